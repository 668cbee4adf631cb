-- Mutex, RwLock, ReentrantLock, Semaphore, Condvar. A hold is a lease number drawn from the
-- object's counter; the holder's session is kept next to it.

local function not_holder(what)
  return err('Invalid', what .. ': the caller does not hold this lock (lease unknown)')
end

-- The grant of a lock: its lease, poison flag and value (read with the kind when the op
-- fetched them: a lock's).
local function locked(lease)
  local poison, x = FETCHED['poison'], FETCHED['x']
  if not poison or not x then
    local held = redis.call('HMGET', M, 'poison', 'x')
    poison, x = held[1], held[2]
  end
  return enc('L', lease, poison, x)
end

local function new_lease() return redis.call('HINCRBY', M, 'next', 1) end

local function init_lock() set('x', arg(5), 'holder', 0, 'poison', '0', 'next', 0, 'readers', 0) end
INIT.RwLock = init_lock

-- A native mutex (ARGV 6 = '1', from a client of a standalone Redis: see mutex.rs) is a
-- token, its value, in the list L while free and in its holder's lane "<prefix>g:<lane>"
-- while held; the lane is registered in "<prefix>G". Its poison flag stays in M.
INIT.Mutex = function()
  if arg(6) ~= '1' then return init_lock() end
  set('poison', '0', 'native', '1', 'epoch', new_epoch())
  redis.call('RPUSH', L, arg(5))
  wrote(L)
end

-- A native mutex's holders whose sessions are no longer present give its token back,
-- poisoned. Answers how many did (0 or 1).
local function recover_holds()
  local back = 0
  for _, lane in ipairs(redis.call('HKEYS', PREFIX .. 'G')) do
    if not present(session_of(lane)) then
      if redis.call('LMOVE', PREFIX .. 'g:' .. lane, L, 'RIGHT', 'LEFT') then back = back + 1 end
      redis.call('HDEL', PREFIX .. 'G', lane)
    end
  end
  if back > 0 then
    set('poison', '1')
    wrote(L)
  end
  return back
end

-- A native mutex's lock found no token: its lane (ARGV, if given) leaves the registry, and
-- the holds of the dead come back.
KINDS.reclaim = ',Mutex,'
OPS.reclaim = function()
  if nargs() > 0 then redis.call('HDEL', PREFIX .. 'G', arg(1)) end
  return enc('C', recover_holds())
end

-- A native mutex's holder panicked: its unlock stores the poison flag only if it still
-- holds the mutex, which a transaction cannot make conditional. ARGV: lane, value given
-- (1/0), value.
KINDS.poison_unlock = ',Mutex,'
OPS.poison_unlock = function()
  local lane = PREFIX .. 'g:' .. arg(1)
  if redis.call('LLEN', lane) == 0 then return not_holder('unlock') end
  if arg(2) == '1' then redis.call('LSET', lane, 0, arg(3)) end
  set('poison', '1')
  redis.call('LMOVE', lane, L, 'RIGHT', 'LEFT')
  redis.call('HDEL', PREFIX .. 'G', arg(1))
  wrote(L)
  return enc('D')
end

-- Whether a native caller may lock it without scripts, whether its keys are persistent,
-- and its epoch.
KINDS.mutex_mode = ',Mutex,'
FETCH.mutex_mode = { 'native', 'persist', 'epoch' }
OPS.mutex_mode = function()
  return enc('M', flag(meta('native') == '1'), meta('persist'), meta('epoch') or '0')
end

-- The scripts' lock and unlock refuse a native mutex (a caller of another strato version).
local function native_refused()
  return err('Unsupported', 'mutex `' .. name() .. '` is locked with native commands ' ..
    'by this version of strato; every program using it must run that version')
end
INIT.ReentrantLock = function() set('x', arg(5), 'owner', '', 'depth', 0, 'poison', '0') end

-- Stores the holder's value and poison flag on release, with `more` field-value pairs, in
-- one HSET.
local function put_back(value_given, value, poison, ...)
  local fields = { ... }
  if value_given == '1' then fields[#fields + 1] = 'x' fields[#fields + 1] = value end
  if poison == '1' then fields[#fields + 1] = 'poison' fields[#fields + 1] = '1' end
  if #fields > 0 then set(unpack(fields)) end
end

-- Locks are granted to a session: the caller's, or a queued waiter's.
local function try_lock(session)
  if meta('holder') ~= '0' then return nil end
  local lease = new_lease()
  set('holder', lease, 'hs', session)
  mark_present(session)
  return locked(lease)
end

-- Releases (poisoned) the writer's hold if its session is no longer present; whether it did.
local function reap_writer()
  local hs = meta('hs')
  if hs and hs ~= '' and not present(hs) then
    set('holder', 0, 'hs', '', 'poison', '1')
    return true
  end
  return false
end

-- Releases (poisoned) whatever sessions that are no longer present hold.
local function reap_locks()
  local changed = reap_writer()
  local readers = redis.call('HGETALL', H)
  for i = 1, #readers, 2 do
    if not present(readers[i + 1]) then
      redis.call('HDEL', H, readers[i])
      redis.call('HINCRBY', M, 'readers', -1)
      changed = true
    end
  end
  if changed then serve() end
end

-- A mutex has no readers: only its holder can be dead.
local function reap_mutex()
  if reap_writer() then serve() end
end
REAP.Mutex = function()
  if meta('native') == '1' then recover_holds() else reap_mutex() end
end
REAP.RwLock = reap_locks

-- The poison flag as it was (after releasing dead holders), cleared if asked.
KINDS.poison = ',Mutex,RwLock,'
OPS.poison = function()
  REAP[meta('kind')]()
  local was = meta('poison')
  if arg(1) == '1' then set('poison', '0') end
  return enc('Y', was)
end

SERVE.lock = function(w) return try_lock(session_of(w.ticket)) end

KINDS.lock = ',Mutex,'
FETCH.lock = { 'holder', 'hs', 'poison', 'x', 'native' }
OPS.lock = function()
  if meta('native') == '1' then return native_refused() end
  reap_mutex()
  return try_lock(SESSION) or block('lock')
end

-- ARGV: lease, value given (1/0), value, poison (1/0).
KINDS.unlock = ',Mutex,'
FETCH.unlock = { 'holder', 'native' }
OPS.unlock = function()
  if meta('native') == '1' then return native_refused() end
  if meta('holder') ~= arg(1) then return not_holder('unlock') end
  put_back(arg(2), arg(3), arg(4), 'holder', 0, 'hs', '')
  serve()
  return enc('D')
end

local function try_read(ctx, session)
  if meta('holder') ~= '0' or ctx.writer_waiting then return nil end
  local lease = new_lease()
  redis.call('HSET', H, lease, session)
  wrote(H)
  mark_present(session)
  redis.call('HINCRBY', M, 'readers', 1)
  return locked(lease)
end

local function try_write(ctx, session)
  if meta('holder') ~= '0' or num('readers') > 0 or ctx.writer_waiting then
    ctx.writer_waiting = true
    return nil
  end
  return try_lock(session)
end

local function writer_queued()
  for _, w in ipairs(waiters()) do
    if w.kind == 'write' then return true end
  end
  return false
end

SERVE.read = function(w, ctx) return try_read(ctx, session_of(w.ticket)) end
SERVE.write = function(w, ctx) return try_write(ctx, session_of(w.ticket)) end

KINDS.rlock = ',RwLock,'
OPS.rlock = function()
  reap_locks()
  return try_read({ writer_waiting = writer_queued() }, SESSION) or block('read')
end

KINDS.wlock = ',RwLock,'
OPS.wlock = function()
  reap_locks()
  return try_write({ writer_waiting = writer_queued() }, SESSION) or block('write')
end

-- The writer becomes a reader under the same lease and session. ARGV: lease, value given
-- (1/0), value.
KINDS.downgrade = ',RwLock,'
OPS.downgrade = function()
  if meta('holder') ~= arg(1) then return not_holder('downgrade') end
  put_back(arg(2), arg(3), '0')
  redis.call('HSET', H, arg(1), meta('hs'))
  wrote(H)
  redis.call('HINCRBY', M, 'readers', 1)
  set('holder', 0, 'hs', '')
  serve()
  return enc('D')
end

KINDS.runlock = ',RwLock,'
OPS.runlock = function()
  if redis.call('HDEL', H, arg(1)) == 0 then return not_holder('read unlock') end
  redis.call('HINCRBY', M, 'readers', -1)
  serve()
  return enc('D')
end

KINDS.wunlock = ',RwLock,'
FETCH.wunlock = FETCH.unlock
OPS.wunlock = OPS.unlock

-- Re-entrant: the owner is a thread of a session; ARGV: owner.
local function try_reenter(owner)
  local current = meta('owner')
  if current ~= '' and current ~= owner then return nil end
  set('owner', owner)
  mark_present(string.match(owner, '^[^:]*'))
  redis.call('HINCRBY', M, 'depth', 1)
  return enc('L', string.match(owner, '[^:]*$'), '0', meta('x'))
end

SERVE.reenter = function(w) return try_reenter(w.data) end

REAP.ReentrantLock = function()
  local owner = meta('owner')
  if owner ~= '' and not present(string.match(owner, '^[^:]*')) then
    set('owner', '', 'depth', 0)
    serve()
  end
end

KINDS.rlock_enter = ',ReentrantLock,'
OPS.rlock_enter = function()
  REAP.ReentrantLock()
  local owner = SESSION .. ':' .. arg(1)
  return try_reenter(owner) or block('reenter', owner)
end

KINDS.rlock_exit = ',ReentrantLock,'
-- ARGV: owner, value given (1/0), value.
OPS.rlock_exit = function()
  if meta('owner') ~= SESSION .. ':' .. arg(1) then return not_holder('re-entrant unlock') end
  if arg(2) == '1' then set('x', arg(3)) end
  if redis.call('HINCRBY', M, 'depth', -1) <= 0 then
    set('owner', '', 'depth', 0)
    serve()
  end
  return enc('D')
end

INIT.Semaphore = function() set('permits', arg(5), 'bound', arg(6)) end

local function try_acquire(n)
  local permits = num('permits')
  if permits < n then return nil end
  set('permits', permits - n)
  return enc('D')
end

SERVE.acquire = function(w) return try_acquire(tonumber(w.data)) end

KINDS.acquire = ',Semaphore,'
OPS.acquire = function() return try_acquire(tonumber(arg(1))) or block('acquire', arg(1)) end

KINDS.sem_release = ',Semaphore,'
OPS.sem_release = function()
  local after = num('permits') + tonumber(arg(1))
  local bound = meta('bound')
  if bound ~= '' and after > tonumber(bound) then
    return err('Overflow', 'bounded semaphore released too many times (' .. after ..
      ' permits > bound ' .. bound .. ')')
  end
  set('permits', after)
  serve()
  return enc('D')
end

KINDS.available = ',Semaphore,'
OPS.available = function() return enc('C', meta('permits')) end

-- Condvar: a waiter enlists here while it still holds its mutex, then releases the mutex
-- (another object, so another call) and waits for its wake list; a notify in between is
-- kept in that list, so none is lost.
INIT.Condvar = function() set('mutex', '') end

KINDS.cv_enlist = ',Condvar,'
OPS.cv_enlist = function()
  local bound = meta('mutex')
  if bound ~= '' and bound ~= arg(1) then
    return err('Invalid', 'condvar `' .. name() .. '` is used with mutex `' .. bound ..
      '`; it cannot wait on another mutex `' .. arg(1) .. '`')
  end
  set('mutex', arg(1))
  return block('cv')
end

local function notify(limit)
  local woken = 0
  for _, w in ipairs(waiters()) do
    if w.kind == 'cv' and woken < limit and alive(w) then
      complete(w, enc('D'))
      woken = woken + 1
    end
  end
  return enc('D')
end

KINDS.notify_one = ',Condvar,'
OPS.notify_one = function() return notify(1) end

KINDS.notify_all = ',Condvar,'
OPS.notify_all = function() return notify(math.huge) end
