-- The task board. Pending tasks are a list of records (netstring fields: id, attempt,
-- max_retries, reply_to, body, charged). A taken task is leased in the hash as "t:<id>" =
-- "<session>|<record>"; each worker's session has "w:<session>" = the deadline (ms) by which
-- it must beat again, and "r:<session>" = the task it said it started last. A session past
-- its deadline is dead: its tasks are queued again, first in line, as a new attempt. The
-- one it was running is charged a retry, or, with no retries left, handed back to the caller
-- to report lost.

INIT.TaskBoard = function() set('bin', arg(5)) end

local function record(f, attempt, charged)
  return ns(f[1]) .. ns(attempt) .. ns(f[3]) .. ns(f[4]) .. ns(f[5]) .. ns(charged)
end

local function count(prefix)
  local n = 0
  for _, field in ipairs(redis.call('HKEYS', H)) do
    if string.sub(field, 1, 2) == prefix then n = n + 1 end
  end
  return n
end

local function workers() return count('w:') end

-- Queues again (or returns as lost) every task leased to `session`.
local function give_back(session, lost)
  local running = redis.call('HGET', H, 'r:' .. session)
  local leases = redis.call('HGETALL', H)
  local mine = {}
  for i = 1, #leases, 2 do
    local field, lease = leases[i], leases[i + 1]
    local bar = string.find(lease, '|', 1, true)
    if string.sub(field, 1, 2) == 't:' and string.sub(lease, 1, bar - 1) == session then
      redis.call('HDEL', H, field)
      mine[#mine + 1] = fields(string.sub(lease, bar + 1))
    end
  end
  -- Back in the order they were submitted (ids grow), ahead of the rest.
  table.sort(mine, function(a, b) return tonumber(a[1]) > tonumber(b[1]) end)
  -- A worker that died before it said it started anything was starting its first task.
  if not running and #mine > 0 then running = mine[#mine][1] end
  for _, f in ipairs(mine) do
    local charged = tonumber(f[6] or '0')
    local was_running = f[1] == running
    if not was_running or charged < tonumber(f[3]) then
      if was_running then charged = charged + 1 end
      redis.call('LPUSH', L, record(f, tonumber(f[2]) + 1, charged))
      wrote(L)
    else
      lost[#lost + 1] = ns(ns(f[1]) .. ns(charged) .. ns(f[4]))
    end
  end
  redis.call('HDEL', H, 'w:' .. session, 'r:' .. session)
end

local function grant(session, max)
  local pending = redis.call('LLEN', L)
  if pending == 0 then return nil end
  local share = math.max(1, math.ceil(pending / (math.max(1, workers()) * 4)))
  local items = redis.call('LPOP', L, math.min(share, math.max(1, max)))
  for _, item in ipairs(items) do
    local f = fields(item)
    redis.call('HSET', H, 't:' .. f[1], session .. '|' .. item)
    wrote(H)
  end
  return 'S' .. all(items)
end

SERVE.take = function(w)
  local comma = string.find(w.data, ',', 1, true)
  return grant(string.sub(w.data, comma + 1), tonumber(string.sub(w.data, 1, comma - 1)))
end

-- ARGV: binary, deadline.
KINDS.task_join = ',TaskBoard,'
OPS.task_join = function()
  if meta('bin') ~= arg(1) then
    return err('WrongBinary', 'this worker runs binary ' .. arg(1) .. ', but the tasks need binary ' ..
      meta('bin') .. ': workers must run the identical executable as their driver (rebuilt or another program?)')
  end
  redis.call('HSET', H, 'w:' .. SESSION, arg(2))
  wrote(H)
  return enc('D')
end

-- ARGV: the session's new deadline.
KINDS.task_beat = ',TaskBoard,'
OPS.task_beat = function()
  if redis.call('HEXISTS', H, 'w:' .. SESSION) == 1 then redis.call('HSET', H, 'w:' .. SESSION, arg(1)) end
  return enc('D')
end

-- ARGV: the records.
KINDS.task_submit = ',TaskBoard,'
OPS.task_submit = function()
  for i = 1, nargs() do redis.call('RPUSH', L, arg(i)) end
  wrote(L)
  serve()
  return enc('D')
end

-- ARGV: now (ms). Answers the lost tasks (id, attempt, reply_to).
KINDS.task_reap = ',TaskBoard,'
OPS.task_reap = function()
  local now, lost = tonumber(arg(1)), {}
  local entries = redis.call('HGETALL', H)
  for i = 1, #entries, 2 do
    if string.sub(entries[i], 1, 2) == 'w:' and tonumber(entries[i + 1]) < now then
      give_back(string.sub(entries[i], 3), lost)
    end
  end
  serve()
  return 'S' .. table.concat(lost)
end

-- The caller's session leaves the board: its tasks go back at once.
KINDS.task_leave = ',TaskBoard,'
OPS.task_leave = function()
  local lost = {}
  give_back(SESSION, lost)
  serve()
  return 'S' .. table.concat(lost)
end

-- ARGV: max.
KINDS.task_take = ',TaskBoard,'
OPS.task_take = function()
  if redis.call('HEXISTS', H, 'w:' .. SESSION) == 0 then
    return err('Invalid', 'a worker must join the task board (TaskJoin) before taking tasks')
  end
  return grant(SESSION, tonumber(arg(1))) or block('take', arg(1) .. ',' .. SESSION)
end

-- The reply queue of task `id` at `attempt` if the caller holds its lease, or nil; with
-- `finish`, the lease ends too.
local function held(id, attempt, finish)
  local lease = redis.call('HGET', H, 't:' .. id)
  local bar = lease and string.find(lease, '|', 1, true)
  local f = lease and fields(string.sub(lease, bar + 1))
  if not lease or string.sub(lease, 1, bar - 1) ~= SESSION or f[2] ~= attempt then return nil end
  if finish then redis.call('HDEL', H, 't:' .. id) end
  return f[4]
end

local function finish(id, attempt) return held(id, attempt, true) end

-- ARGV: id, attempt, id, attempt, ... Answers each task's reply queue ("" if the caller does
-- not hold its lease), leaving the leases: a worker puts its reports first and ends the
-- leases after, so that dying in between repeats a task instead of losing it.
KINDS.task_held = ',TaskBoard,'
OPS.task_held = function()
  local queues = {}
  for i = 1, nargs(), 2 do queues[#queues + 1] = held(arg(i), arg(i + 1), false) or '' end
  return 'S' .. all(queues)
end

-- ARGV: id, attempt, id, attempt, ... Ends the leases the caller holds (their reports are
-- out); answers each task's reply queue ("" if the caller does not hold its lease).
KINDS.task_finish_many = ',TaskBoard,'
OPS.task_finish_many = function()
  local queues = {}
  for i = 1, nargs(), 2 do queues[#queues + 1] = finish(arg(i), arg(i + 1)) or '' end
  return 'S' .. all(queues)
end

KINDS.task_counts = ',TaskBoard,'
OPS.task_counts = function()
  return enc('U', redis.call('LLEN', L), count('t:'), workers())
end

-- ARGV: id. The caller starts running task `id` (if it holds its lease).
KINDS.task_start = ',TaskBoard,'
OPS.task_start = function()
  local lease = redis.call('HGET', H, 't:' .. arg(1))
  if lease and string.sub(lease, 1, string.find(lease, '|', 1, true) - 1) == SESSION then
    redis.call('HSET', H, 'r:' .. SESSION, arg(1))
    wrote(H)
  end
  return enc('D')
end
