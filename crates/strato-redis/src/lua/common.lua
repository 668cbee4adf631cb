-- strato over Redis: one Redis Functions library with one function, dispatched on its
-- first argument. Every key belongs to one object and carries its hash tag, so the library
-- runs unchanged on Redis Cluster. Loading it defines every op once; a call only binds its
-- keys and arguments and runs one op.
--
-- KEYS: 1 meta hash (kind, reference counts, scalar state), 2 list (items, elements),
--       3 hash (map entries, leases), 4 waiters list ("ticket|kind|data" per parked call).
--       Beside them, "<prefix>b" holds a queue's or channel's large items, which the client
--       writes and reads with native commands: in the list, an item is "i" and its bytes,
--       or "s" and the field of the item in "<prefix>b" (Lua would hash every byte of it).
-- ARGV: 1 op, 2 key prefix ("strato:{name}:"), 3 ticket of the caller ("" = never wait),
--       4 session of the caller, 5 how long a presence lasts (ms), 6.. the op's arguments.
-- Liveness: a session that waits on an object, or holds one of its locks, keeps the key
-- "<prefix>p:<session>" alive (its heartbeat renews it). Once it lapses, the session is dead
-- to this object: its queued calls are dropped and its locks released (poisoned).
-- Replies are one string: a tag letter, then netstring fields ("<len>:<bytes>"). A call
-- that must wait is queued in the waiters list and answered "Q"; whatever lets it proceed
-- pushes its answer to the caller's wake list "<prefix>k:<ticket>", where it waits in BLPOP.

-- The call being run (Redis runs one at a time): bound by `bind` at its start.
local M, L, H, W, OP, PREFIX, TICKET, SESSION, PRESENCE_MS, ARGV

local function bind(keys, args)
  M, L, H, W = keys[1], keys[2], keys[3], keys[4]
  OP, PREFIX, TICKET, SESSION = args[1], args[2], args[3], args[4]
  PRESENCE_MS = tonumber(args[5])
  ARGV = args
end

-- The object's name, for messages.
local function name() return string.sub(PREFIX, 9, -3) end

local function arg(i) return ARGV[5 + i] end
local function nargs() return #ARGV - 5 end

local OPS = {}    -- op name -> function returning the reply
local KINDS = {}  -- op name -> ",Kind,Kind," the op applies to (checked before it runs)
local PURE = {}   -- ops that never make a key: no TTL to spread after them
local SERVE = {}  -- waiter kind -> function(waiter, ctx) returning its answer, or nil
local CANCEL = {} -- waiter kind -> function(waiter) run when a waiter times out
local INIT = {}   -- object kind -> function() setting up a new object, or returning an error
local REAP = {}   -- object kind -> function() releasing what dead sessions hold

local function ns(s) s = tostring(s) return #s .. ':' .. s end

-- A reply of up to three fields (plain concatenation: the hot path of every call).
local function enc(tag, a, b, c)
  if a == nil then return tag end
  if b == nil then return tag .. ns(a) end
  if c == nil then return tag .. ns(a) .. ns(b) end
  return tag .. ns(a) .. ns(b) .. ns(c)
end

local function fields(s)
  local out, pos = {}, 1
  while pos <= #s do
    local colon = string.find(s, ':', pos, true)
    local n = tonumber(string.sub(s, pos, colon - 1))
    out[#out + 1] = string.sub(s, colon + 1, colon + n)
    pos = colon + n + 1
  end
  return out
end

-- "S" with every element of a Redis array reply (no unpack: it fails past a few thousand).
local function all(items)
  local out = {}
  for _, x in ipairs(items) do out[#out + 1] = ns(x) end
  return table.concat(out)
end

local function err(kind, message) return enc('E', kind, message) end
local function flag(b) if b then return '1' end return '0' end
local function meta(f) return redis.call('HGET', M, f) end
local function num(f) return tonumber(redis.call('HGET', M, f) or '0') end
local function set(...) redis.call('HSET', M, ...) end

local function parse_waiter(raw)
  local a = string.find(raw, '|', 1, true)
  local b = string.find(raw, '|', a + 1, true)
  return { raw = raw, ticket = string.sub(raw, 1, a - 1), kind = string.sub(raw, a + 1, b - 1),
           data = string.sub(raw, b + 1) }
end

local function waiters()
  local out = {}
  for _, raw in ipairs(redis.call('LRANGE', W, 0, -1)) do out[#out + 1] = parse_waiter(raw) end
  return out
end

local function session_of(ticket) return string.match(ticket, '^[^.]*') end

local function present(session)
  return redis.call('EXISTS', PREFIX .. 'p:' .. session) == 1
end

local function mark_present(session)
  redis.call('SET', PREFIX .. 'p:' .. session, '1', 'PX', PRESENCE_MS)
end

local function wake(ticket, payload)
  local key = PREFIX .. 'k:' .. ticket
  redis.call('RPUSH', key, payload)
  redis.call('PEXPIRE', key, 600000)
end

-- Whether a queued call's process is still present (a dead one's call must not take
-- anything handed over).
local function alive(w) return present(session_of(w.ticket)) end

-- Removes a waiter and hands it its answer.
local function complete(w, payload)
  redis.call('LREM', W, 1, w.raw)
  wake(w.ticket, payload)
end

-- The caller cannot proceed: WouldBlock if it will not wait, else it is parked.
local function block(kind, data)
  if TICKET == '' then return enc('K') end
  mark_present(SESSION)
  redis.call('RPUSH', W, TICKET .. '|' .. kind .. '|' .. (data or ''))
  return enc('Q')
end

-- Completes every parked call that can now proceed, oldest first, until none can.
local function serve()
  local progress = true
  while progress do
    progress = false
    local ctx = {}
    for _, w in ipairs(waiters()) do
      if not alive(w) then
        redis.call('LREM', W, 1, w.raw)
        local hook = CANCEL[w.kind]
        if hook then hook(w) end
        progress = true
      else
        local try = SERVE[w.kind]
        local payload = try and try(w, ctx)
        if payload then
          complete(w, payload)
          progress = true
        end
      end
    end
  end
end

local ROLES = { 'h', 's', 'r' }

local function count(role) return num('r' .. role) + num('l' .. role) end

local function referenced()
  for _, role in ipairs(ROLES) do
    if count(role) > 0 then return true end
  end
  return false
end

local function delete_object()
  local message = 'object `' .. name() .. '` was deleted while the call waited'
  for _, w in ipairs(waiters()) do wake(w.ticket, err('Deleted', message)) end
  redis.call('DEL', M, L, H, W, PREFIX .. 'b')
end

local function collect()
  if meta('persist') ~= '1' and not referenced() then delete_object() end
end

local function expire(ttl)
  for _, key in ipairs({ M, L, H, W, PREFIX .. 'b' }) do redis.call('PEXPIRE', key, ttl) end
end

-- Keys made after the object (its list on the first put, say) get the object's TTL, so a
-- crashed program leaves nothing behind for longer than the TTL.
local function spread_ttl()
  local ttl = redis.call('PTTL', M)
  if ttl <= 0 then return end
  for _, key in ipairs({ L, H, W, PREFIX .. 'b' }) do
    if redis.call('PTTL', key) == -1 then redis.call('PEXPIRE', key, ttl) end
  end
end

OPS.open = function()
  local kind, persistent, role, ttl = arg(1), arg(2), arg(3), tonumber(arg(4))
  local have = meta('kind')
  if not have then
    redis.call('DEL', L, H, W, PREFIX .. 'b')
    local init = INIT[kind]
    if not init then return err('Unsupported', 'objects of kind ' .. kind .. ' cannot live in Redis') end
    local refusal = init()
    if refusal then return refusal end
    set('kind', kind, 'persist', persistent)
    if persistent ~= '1' then expire(ttl) end
  elseif have ~= kind then
    return err('WrongType', 'object `' .. name() .. '` is a ' .. have .. ', not a ' .. kind)
  elseif kind == 'Atomic' and meta('f') ~= arg(5) then
    return err('WrongType', 'object `' .. name() .. '` is an atomic of another type')
  elseif meta('persist') ~= '1' then
    expire(ttl)
  end
  redis.call('HINCRBY', M, 'r' .. role, 1)
  serve()
  return enc('D')
end

OPS.release = function()
  if redis.call('EXISTS', M) == 0 then return enc('D') end
  local field = 'r' .. arg(1)
  if redis.call('HINCRBY', M, field, -1) < 0 then set(field, 0) end
  serve()
  collect()
  return enc('D')
end

OPS.lend = function()
  if redis.call('EXISTS', M) == 0 then return err('NotFound', 'no object named `' .. name() .. '`') end
  redis.call('HINCRBY', M, 'l' .. arg(1), 1)
  return enc('D')
end

OPS.adopt = function()
  if redis.call('EXISTS', M) == 0 then return err('NotFound', 'no object named `' .. name() .. '`') end
  local lent = 'l' .. arg(1)
  if redis.call('HINCRBY', M, lent, -1) < 0 then set(lent, 0) end
  redis.call('HINCRBY', M, 'r' .. arg(1), 1)
  return enc('D')
end

OPS.delete = function()
  if redis.call('EXISTS', M) == 0 then return err('NotFound', 'no object named `' .. name() .. '`') end
  delete_object()
  return enc('D')
end

OPS.exists = function() return enc('Y', flag(redis.call('EXISTS', M) == 1)) end

-- The caller's heartbeat: it still waits on, or holds, this object.
OPS.present = function()
  if redis.call('EXISTS', M) == 1 then mark_present(SESSION) end
  return enc('D')
end

-- A parked caller checks on its call (and, for it, on everyone): dead sessions' holds and
-- queued calls go, then "Q" if its call is still queued, its answer if one arrived, or "W"
-- if the call was dropped (its presence had lapsed) and must be made anew.
OPS.recheck = function()
  mark_present(SESSION)
  local reap = REAP[meta('kind') or '']
  if reap then reap() end
  serve()
  for _, w in ipairs(waiters()) do
    if w.ticket == TICKET then return enc('Q') end
  end
  return redis.call('LPOP', PREFIX .. 'k:' .. TICKET) or enc('W')
end

OPS.touch = function()
  if meta('persist') == '0' then expire(tonumber(arg(1))) end
  return enc('D')
end

-- A parked call's wait ran out: it leaves the queue (TimedOut), unless it was answered in
-- the meantime, in which case that answer is its reply.
OPS.cancel = function()
  for _, w in ipairs(waiters()) do
    if w.ticket == TICKET then
      redis.call('LREM', W, 1, w.raw)
      local hook = CANCEL[w.kind]
      if hook then hook(w) end
      serve()
      return enc('T')
    end
  end
  local answer = redis.call('LPOP', PREFIX .. 'k:' .. TICKET)
  return answer or enc('T')
end
