-- Queue (multi-producer, multi-consumer, optionally bounded, with task_done/join) and
-- Channel (mpsc: unbounded, bounded, or rendezvous when the bound is 0). Items are a Redis
-- list; a getter that finds it empty parks, and the put that follows hands it the item.

-- A queue's epoch tells a native caller that knew an earlier queue of the same name (its
-- lane registrations went with it) that this is another one.
INIT.Queue = function() set('bound', arg(5), 'unfinished', 0, 'epoch', new_epoch()) end
INIT.Channel = function() set('bound', arg(5)) end

local function room()
  local bound = meta('bound')
  return bound == '' or redis.call('LLEN', L) < tonumber(bound)
end

-- Appends an item to the list.
local function push_item(item)
  redis.call('RPUSH', L, item)
  wrote(L)
end

-- The put's or send's items: a large one ("s" and its field) was just written to the item
-- hash by the caller, which may have made the hash.
local function carried()
  for i = 1, nargs() do
    if string.sub(arg(i), 1, 1) == 's' then wrote(PREFIX .. 'b') return end
  end
end

local function try_put(item)
  if not room() then return nil end
  push_item(item)
  redis.call('HINCRBY', M, 'unfinished', 1)
  return enc('D')
end

local function try_get()
  local item = redis.call('LPOP', L)
  if item then return enc('B', item) end
end

local function try_get_many(max)
  local items = redis.call('LPOP', L, max)
  if items then return 'S' .. all(items) end
end

-- Items handed to a parked getter are kept as "handed:<ticket>" in the hash until its process
-- acknowledges them (its heartbeat does, within a beat): if the process died first, they go
-- back to the front of the list once its presence lapses. So a getter killed at the wrong
-- moment delays an item; it does not lose it.
local function handed(w, payload)
  if payload then
    redis.call('HSET', H, 'handed:' .. w.ticket, payload)
    wrote(H)
  end
  return payload
end

local function recover()
  if redis.call('HLEN', H) == 0 then return end
  local entries, alive_session = redis.call('HGETALL', H), {}
  for i = 1, #entries, 2 do
    local ticket = string.match(entries[i], '^handed:(.*)$')
    local session = ticket and session_of(ticket)
    if session and alive_session[session] == nil then alive_session[session] = present(session) end
    if session and not alive_session[session] then
      redis.call('HDEL', H, entries[i])
      local items = fields(string.sub(entries[i + 1], 2))
      for j = #items, 1, -1 do redis.call('LPUSH', L, items[j]) end
      wrote(L)
    end
  end
end

-- A getter's call carries the tickets of the items it received since its last call: they
-- are acknowledged first, so few hand-offs stay unacknowledged for long. "b:<field>" is a
-- large item it read: deleted from the item hash now.
local function ack_from(first)
  for i = first, nargs() do
    local ack = arg(i)
    if string.sub(ack, 1, 2) == 'b:' then
      redis.call('HDEL', PREFIX .. 'b', string.sub(ack, 3))
    elseif string.sub(ack, 1, 2) == 'g:' then
      redis.call('LPOP', PREFIX .. ack)
    else
      redis.call('HDEL', H, 'handed:' .. ack)
    end
  end
end

-- Native getters' lanes whose presence lapsed go back to the front of the queue, in order;
-- answers how many items came back.
local function recover_lanes()
  local lanes = redis.call('HKEYS', PREFIX .. 'G')
  local back = 0
  for _, lane in ipairs(lanes) do
    if not present(lane) then
      local list = PREFIX .. 'g:' .. lane
      while redis.call('LMOVE', list, L, 'RIGHT', 'LEFT') do back = back + 1 end
      redis.call('HDEL', PREFIX .. 'G', lane)
    end
  end
  if back > 0 then wrote(L) end
  return back
end

REAP.Queue = function() recover_lanes() recover() end
REAP.Channel = recover

KINDS.ack = ',Queue,Channel,'
OPS.ack = function()
  ack_from(1)
  return enc('D')
end

SERVE.put = function(w) return try_put(w.data) end
SERVE.get = function(w) return handed(w, try_get()) end
SERVE.get_many = function(w) return handed(w, try_get_many(tonumber(w.data))) end
SERVE.join = function() if num('unfinished') == 0 then return enc('D') end end

KINDS.put = ',Queue,'
FETCH.put = { 'bound' }
OPS.put = function()
  carried()
  local done = try_put(arg(1))
  if not done then return block('put', arg(1)) end
  serve()
  return done
end

-- Puts every item while there is room; answers how many it put.
KINDS.put_many = ',Queue,'
OPS.put_many = function()
  carried()
  local put = 0
  for i = 1, nargs() do
    if not try_put(arg(i)) then break end
    put = put + 1
  end
  serve()
  return enc('C', put)
end

KINDS.get = ',Queue,'
OPS.get = function()
  ack_from(1)
  recover()
  local item = try_get()
  if not item then return block('get') end
  serve()
  return item
end

KINDS.get_many = ',Queue,'
OPS.get_many = function()
  ack_from(2)
  recover()
  local items = try_get_many(tonumber(arg(1)))
  if not items then return block('get_many', arg(1)) end
  serve()
  return items
end

KINDS.len = ',Queue,Channel,'
OPS.len = function()
  recover_lanes()
  recover()
  return enc('C', redis.call('LLEN', L))
end

-- Native getters (see common.lua). `mode`: whether the queue is unbounded (its puts and
-- gets may then be native) and persistent (its keys then have no TTL).
KINDS.mode = ',Queue,'
FETCH.mode = { 'bound', 'persist', 'epoch' }
OPS.mode = function()
  return enc('M', flag(meta('bound') == ''), meta('persist'), meta('epoch') or '0')
end

-- A native getter found the queue empty: lanes of the dead come back first. Answers how
-- many items did.
KINDS.regive = ',Queue,'
OPS.regive = function()
  local back = recover_lanes()
  recover()
  return enc('C', back)
end

-- A native getter's get_many: moves up to ARGV max items from the queue to its lane
-- (ARGV lane) and answers them.
KINDS.take = ',Queue,'
OPS.take = function()
  local lane, max = arg(1), tonumber(arg(2))
  if max <= 0 then return 'S' end
  local items = redis.call('LRANGE', L, 0, max - 1)
  if #items == 0 then return 'S' end
  redis.call('LTRIM', L, #items, -1)
  local list = PREFIX .. 'g:' .. lane
  for first = 1, #items, 1000 do
    redis.call('RPUSH', list, unpack(items, first, math.min(first + 999, #items)))
  end
  redis.call('HSET', PREFIX .. 'G', lane, '1')
  redis.call('SET', PREFIX .. 'p:' .. lane, '1', 'PX', PRESENCE_MS)
  wrote(list)
  wrote(PREFIX .. 'G')
  return 'S' .. all(items)
end

-- A native put found, in the same transaction, that the object is not (or no longer) an
-- unbounded queue: it takes back what it did. ARGV: the item it pushed. Answers whether
-- the item was still there to take back.
OPS.unput = function()
  local kind = redis.call('HGET', M, 'kind')
  if not kind then
    redis.call('DEL', M, L) -- what the put made of a deleted object
    return enc('Y', '1')
  end
  local removed = redis.call('LREM', L, -1, arg(1)) == 1
  if kind ~= 'Queue' then
    redis.call('HDEL', M, 'unfinished')
  elseif removed then
    redis.call('HINCRBY', M, 'unfinished', -1)
  end
  return enc('Y', flag(removed))
end

KINDS.task_done = ',Queue,'
OPS.task_done = function()
  if num('unfinished') == 0 then
    return err('Invalid', 'task_done() called more times than there were items put')
  end
  redis.call('HINCRBY', M, 'unfinished', -1)
  serve()
  return enc('D')
end

KINDS.join = ',Queue,'
OPS.join = function() return SERVE.join() or block('join') end

-- Channel. A rendezvous send completes only when a receiver takes the item, so a blocked
-- sender's item stays with its waiter record until then.
local function senders() return count('s') end
local function receivers() return count('r') end

local function try_send(item)
  if receivers() == 0 then return enc('Z') end
  for _, w in ipairs(waiters()) do
    if w.kind == 'recv' and alive(w) then
      complete(w, handed(w, enc('B', item)))
      return enc('D')
    end
  end
  if meta('bound') == '0' or not room() then return nil end
  push_item(item)
  return enc('D')
end

local function try_recv()
  local item = redis.call('LPOP', L)
  if item then return enc('B', item) end
  for _, w in ipairs(waiters()) do
    if w.kind == 'send' and alive(w) then
      complete(w, enc('D'))
      return enc('B', w.data)
    end
  end
  if senders() == 0 then return enc('Z') end
end

SERVE.send = function(w)
  if receivers() == 0 then return enc('Z') end
  if meta('bound') ~= '0' and room() then
    push_item(w.data)
    return enc('D')
  end
end

SERVE.recv = function(w)
  local item = redis.call('LPOP', L)
  if item then return handed(w, enc('B', item)) end
  if senders() == 0 then return enc('Z') end
end

KINDS.send = ',Channel,'
FETCH.send = { 'bound' }
OPS.send = function()
  carried()
  local done = try_send(arg(1))
  if done then return done end
  return block('send', arg(1))
end

KINDS.recv = ',Channel,'
OPS.recv = function()
  ack_from(1)
  recover()
  local item = try_recv()
  if not item then return block('recv') end
  serve()
  return item
end
