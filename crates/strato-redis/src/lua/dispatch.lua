-- Turns the tables above into sets, once, on the first call (the code run at load time may
-- not use the standard library).
local prepared = false
local function prepare()
  -- Ops that only read, or write fields of the meta hash that exists already.
  for _, op in ipairs({ 'load', 'store', 'cas', 'add', 'vget', 'vset', 'vcas', 'alen', 'aget',
      'aset', 'arange', 'asetrange', 'lrange', 'lpop', 'mget', 'mcontains', 'mlen', 'mkeys',
      'mentries', 'mread', 'available', 'ev_is_set', 'ev_clear', 'fut_is_set', 'latch_count',
      'exists', 'touch', 'present', 'task_counts', 'task_beat', 'task_held', 'task_start' }) do
    PURE[op] = true
  end
  for op, kinds in pairs(KINDS) do
    local set = {}
    for kind in string.gmatch(kinds, '[^,]+') do set[kind] = true end
    KINDS[op] = set
  end
  prepared = true
end

-- Runs the op named by ARGV[1], after checking the object exists and is of a kind the op
-- applies to.
local function dispatch()
  local run = OPS[OP]
  if not run then return err('Invalid', 'unknown operation `' .. OP .. '`') end
  local wanted = KINDS[OP]
  if wanted then
    local kind = meta('kind')
    if not kind then return err('NotFound', 'no object named `' .. name() .. '`') end
    if not wanted[kind] then
      return err('WrongType', OP .. ' is not an operation of a ' .. kind)
    end
  end
  local reply = run()
  if not PURE[OP] then spread_ttl() end
  return reply
end

redis.register_function('FUNCTION_NAME', function(keys, args)
  if not prepared then prepare() end
  bind(keys, args)
  return dispatch()
end)
