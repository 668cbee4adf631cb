-- strato over Redis: one Redis Functions library with one function, dispatched on its
-- first argument. Every key belongs to one object and carries its hash tag, so the library
-- runs unchanged on Redis Cluster. Loading it defines every op once; a call only binds its
-- keys and arguments and runs one op.
--
-- KEYS: 1 the meta hash "<prefix>m" (kind, reference counts, scalar state), where the
--       prefix is "strato:{name}:". The object's other keys are named from it (one key to
--       pass, not four: every argument costs Redis time): "<prefix>l" list (items,
--       elements), "<prefix>h" hash (map entries, leases), "<prefix>w" waiters list
--       ("ticket|kind|data" per parked call), and "<prefix>b", a queue's or channel's large
--       items, which the client writes and reads with native commands: in the list, an item
--       is "i" and its bytes, or "s" and the field of the item in "<prefix>b" (Lua would
--       hash every byte of it). All share the name's hash tag, so one cluster node has them.
-- ARGV: 1 op, 2 ticket of the caller ("" = never wait), 3 session of the caller, 4 how long
--       a presence lasts (ms), 5 "w" if the caller waits in BLPOP on its wake list right
--       after this call (sent in the same write), so even an answer given at once goes
--       there (the reply is then "P"), 6.. the op's arguments.
-- Native getters: on a standalone Redis an unbounded queue's puts and gets are native
-- commands (no FCALL: see queue.rs). A getter moves an item with BLMOVE from "<prefix>l"
-- into a list of its own, "<prefix>g:<lane>" (a lane is "<session>.<n>", one per get in
-- flight in a process), registered in the hash "<prefix>G", with its presence in
-- "<prefix>p:<lane>"; it pops the item from there to acknowledge it. A lane whose
-- presence lapsed goes back to the front of the queue (`recover_lanes`).
-- Liveness: a session that waits on an object, or holds one of its locks, keeps the key
-- "<prefix>p:<session>" alive (its heartbeat renews it). Once it lapses, the session is dead
-- to this object: its queued calls are dropped and its locks released (poisoned).
-- Replies are one string: a tag letter, then netstring fields ("<len>:<bytes>"). A call
-- that must wait is queued in the waiters list and answered "Q"; whatever lets it proceed
-- pushes its answer to the caller's wake list "<prefix>k:<ticket>", where it waits in BLPOP.

-- The call being run (Redis runs one at a time): bound by `bind` at its start. WROTE holds
-- the object's keys other than M that the call wrote (so may have made): they get M's TTL
-- when it ends.
-- FETCHED holds fields of M read before the op ran (see FETCH).
local M, L, H, W, OP, PREFIX, TICKET, SESSION, PRESENCE_MS, VIA_WAKE, ARGV, WROTE, FETCHED

local function bind(keys, args)
  M = keys[1]
  PREFIX = string.sub(M, 1, -2)
  L, H, W = PREFIX .. 'l', PREFIX .. 'h', PREFIX .. 'w'
  OP, TICKET, SESSION = args[1], args[2], args[3]
  PRESENCE_MS = tonumber(args[4])
  VIA_WAKE = args[5] == 'w'
  ARGV = args
  WROTE, FETCHED = {}, {}
end

-- Records that the call wrote `key` (L, H, W or the item hash), which may have made it.
local function wrote(key) WROTE[key] = true end

-- The object's name, for messages.
local function name() return string.sub(PREFIX, 9, -3) end

local function arg(i) return ARGV[5 + i] end
local function nargs() return #ARGV - 5 end

local OPS = {}    -- op name -> function returning the reply
-- op name -> fields of M that dispatch reads with the kind, in one HMGET, for `meta` to
-- answer from. Only fields written with `set` (which keeps them current), never with
-- HINCRBY: holder, hs, bound, f, poison, x.
local FETCH = {}
local KINDS = {}  -- op name -> ",Kind,Kind," the op applies to (checked before it runs)
local SERVE = {}  -- waiter kind -> function(waiter, ctx) returning its answer, or nil
local CANCEL = {} -- waiter kind -> function(waiter) run when a waiter times out
local INIT = {}   -- object kind -> function() setting up a new object, or returning an error
local REAP = {}   -- object kind -> function() releasing what dead sessions hold

local function ns(s) s = tostring(s) return #s .. ':' .. s end

-- A reply of up to three fields: one concatenation, so a field (a queue's item, say) is
-- copied into one new string, not one per step (Lua hashes every new string whole).
local function enc(tag, a, b, c)
  if a == nil then return tag end
  a = tostring(a)
  if b == nil then return tag .. #a .. ':' .. a end
  b = tostring(b)
  if c == nil then return tag .. #a .. ':' .. a .. #b .. ':' .. b end
  c = tostring(c)
  return tag .. #a .. ':' .. a .. #b .. ':' .. b .. #c .. ':' .. c
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
local function meta(f)
  local known = FETCHED[f]
  if known ~= nil then return known end
  return redis.call('HGET', M, f)
end
local function num(f) return tonumber(meta(f) or '0') end
local function set(...)
  local fv = { ... }
  for i = 1, #fv, 2 do
    if FETCHED[fv[i]] ~= nil then FETCHED[fv[i]] = tostring(fv[i + 1]) end
  end
  redis.call('HSET', M, ...)
end

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

-- When an object was made (Redis's clock, µs): a native caller that knew an earlier object
-- of the same name (its lanes' registrations went with it) learns from it that this is
-- another one.
local function new_epoch()
  local now = redis.call('TIME')
  return now[1] .. string.format('%06d', now[2])
end

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
  wrote(W)
  return enc('Q')
end

-- Completes every parked call that can now proceed, oldest first, until none can.
local function serve()
  local progress = true
  while progress do
    progress = false
    local ctx, queued = {}, waiters()
    local left = #queued
    for _, w in ipairs(queued) do
      if not alive(w) then
        redis.call('LREM', W, 1, w.raw)
        local hook = CANCEL[w.kind]
        if hook then hook(w) end
        progress, left = true, left - 1
      else
        local try = SERVE[w.kind]
        local payload = try and try(w, ctx)
        if payload then
          complete(w, payload)
          progress, left = true, left - 1
        end
      end
    end
    if left == 0 then return end -- no one left to serve (none is queued while serving)
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

-- The native getters' lanes ("<prefix>G" and each lane's list), as keys (one call each
-- to delete or expire: no unpack, which fails past a few thousand).
local function lane_keys()
  local keys = { PREFIX .. 'G' }
  for _, lane in ipairs(redis.call('HKEYS', PREFIX .. 'G')) do
    keys[#keys + 1] = PREFIX .. 'g:' .. lane
  end
  return keys
end

local function delete_object()
  FETCHED = {}
  local message = 'object `' .. name() .. '` was deleted while the call waited'
  for _, w in ipairs(waiters()) do wake(w.ticket, err('Deleted', message)) end
  redis.call('DEL', M, L, H, W, PREFIX .. 'b')
  for _, key in ipairs(lane_keys()) do redis.call('DEL', key) end
end

local function collect()
  if meta('persist') ~= '1' and not referenced() then delete_object() end
end

local function expire(ttl)
  for _, key in ipairs({ M, L, H, W, PREFIX .. 'b' }) do redis.call('PEXPIRE', key, ttl) end
  for _, key in ipairs(lane_keys()) do redis.call('PEXPIRE', key, ttl) end
end

-- Keys made after the object (its list on the first put, say) get the object's TTL, so a
-- crashed program leaves nothing behind for longer than the TTL. Only the keys this call
-- wrote can be new, and only one without a TTL takes M's (PEXPIRE NX, Redis 7).
local function spread_ttl()
  if next(WROTE) == nil then return end
  local ttl = redis.call('PTTL', M)
  if ttl <= 0 then return end
  for key in pairs(WROTE) do redis.call('PEXPIRE', key, ttl, 'NX') end
end

OPS.open = function()
  local kind, persistent, role, ttl = arg(1), arg(2), arg(3), tonumber(arg(4))
  local have = meta('kind')
  if not have then
    redis.call('DEL', L, H, W, PREFIX .. 'b')
    for _, key in ipairs(lane_keys()) do redis.call('DEL', key) end
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
