-- Atomics, Value, Array, Map, List. Atomics hold the i64 bit pattern of their value (a u64
-- or f64 is reinterpreted), so add and subtract wrap alike for signed and unsigned.

local function out_of_bounds(index, len)
  return err('OutOfBounds', 'index ' .. index .. ' out of bounds for length ' .. len)
end

local function bad_range(s, e, len)
  return err('OutOfBounds', 'range ' .. s .. '..' .. e .. ' out of bounds for length ' .. len)
end

INIT.Atomic = function() set('f', arg(5), 'v', arg(6)) end
INIT.Value = function() set('x', arg(5), 'ver', 0) end
-- The first argument is the size every item must have ('' for serde items of any size).
INIT.Array = function()
  if arg(5) ~= '' then set('w', arg(5)) end
  for i = 6, nargs() do redis.call('RPUSH', L, arg(i)) end
  wrote(L)
end

-- An error if `item` is not of the size an array of fixed-size items holds.
local function wrong_size(item)
  local w = meta('w')
  if w and #item ~= tonumber(w) then
    return err('BadValue', 'an item of ' .. #item .. ' bytes in an array of ' .. w .. '-byte items')
  end
end
INIT.Map = function() set('ver', 0) end
INIT.List = function() end

KINDS.load = ',Atomic,'
OPS.load = function() return enc('A', meta('f'), meta('v')) end

KINDS.store = ',Atomic,'
OPS.store = function()
  if meta('f') ~= arg(1) then
    return err('WrongType', 'atomic holds another type than the stored ' .. arg(1) .. ' value')
  end
  set('v', arg(2))
  return enc('D')
end

KINDS.swap = ',Atomic,'
OPS.swap = function()
  local old = meta('v')
  set('v', arg(1))
  return enc('A', meta('f'), old)
end

-- Compare-exchange on the bit pattern: "X" with 1 and the previous value, or 0 and the
-- actual one.
KINDS.cas = ',Atomic,'
OPS.cas = function()
  local old = meta('v')
  if old == arg(1) then
    set('v', arg(2))
    return enc('X', '1', meta('f'), old)
  end
  return enc('X', '0', meta('f'), old)
end

-- Adds a signed delta, answering the new value; "K" when i64 arithmetic would overflow
-- (the client then falls back to compare-exchange, which wraps).
-- ARGV: delta, the argument's flavour (an atomic of another flavour is refused untouched).
KINDS.add = ',Atomic,'
FETCH.add = { 'f' }
OPS.add = function()
  local f = meta('f')
  if f ~= arg(2) then
    return err('WrongType', 'atomic holds another type than the ' .. arg(2) .. ' argument')
  end
  local new = redis.pcall('HINCRBY', M, 'v', arg(1))
  if type(new) == 'table' then return enc('K') end
  -- A Lua number holds integers exactly up to 2^53; past that, the stored string.
  if new > -9007199254740992 and new < 9007199254740992 then
    return enc('A', f, string.format('%.0f', new))
  end
  return enc('A', f, redis.call('HGET', M, 'v'))
end

KINDS.vget = ',Value,'
OPS.vget = function() return enc('V', meta('ver'), meta('x')) end

KINDS.vset = ',Value,'
OPS.vset = function()
  set('x', arg(1))
  redis.call('HINCRBY', M, 'ver', 1)
  return enc('D')
end

KINDS.vcas = ',Value,'
OPS.vcas = function()
  if meta('ver') ~= arg(1) then return OPS.vget() end
  set('x', arg(2))
  redis.call('HINCRBY', M, 'ver', 1)
  return enc('D')
end

local function element(index)
  local len = redis.call('LLEN', L)
  local i = tonumber(index)
  if i >= len then return nil, out_of_bounds(index, len) end
  return i
end

KINDS.alen = ',Array,List,'
OPS.alen = function() return enc('C', redis.call('LLEN', L)) end

KINDS.aget = ',Array,List,'
OPS.aget = function()
  local i, e = element(arg(1))
  if e then return e end
  return enc('B', redis.call('LINDEX', L, i))
end

KINDS.aset = ',Array,List,'
OPS.aset = function()
  local i, e = element(arg(1))
  if e then return e end
  local bad = wrong_size(arg(2))
  if bad then return bad end
  redis.call('LSET', L, i, arg(2))
  return enc('D')
end

KINDS.arange = ',Array,'
OPS.arange = function()
  local s, e, len = tonumber(arg(1)), tonumber(arg(2)), redis.call('LLEN', L)
  if s > e or e > len then return bad_range(arg(1), arg(2), len) end
  if s == e then return enc('S') end
  return 'S' .. all(redis.call('LRANGE', L, s, e - 1))
end

KINDS.asetrange = ',Array,'
OPS.asetrange = function()
  local s, len = tonumber(arg(1)), redis.call('LLEN', L)
  local e = s + nargs() - 1
  if e > len then return bad_range(arg(1), e, len) end
  for i = 2, nargs() do
    local bad = wrong_size(arg(i))
    if bad then return bad end
  end
  for i = 2, nargs() do redis.call('LSET', L, s + i - 2, arg(i)) end
  return enc('D')
end

KINDS.lpush = ',List,'
OPS.lpush = function()
  for i = 1, nargs() do redis.call('RPUSH', L, arg(i)) end
  wrote(L)
  return enc('D')
end

KINDS.lpop = ',List,'
OPS.lpop = function()
  local v = redis.call('RPOP', L)
  if v then return enc('M', v) end
  return enc('N')
end

KINDS.lrange = ',List,'
OPS.lrange = function()
  local len = redis.call('LLEN', L)
  local e = math.min(tonumber(arg(2)), len)
  local s = math.min(tonumber(arg(1)), e)
  if s == e then return enc('S') end
  return 'S' .. all(redis.call('LRANGE', L, s, e - 1))
end

local function bump() redis.call('HINCRBY', M, 'ver', 1) end

local function maybe(v)
  if v then return enc('M', v) end
  return enc('N')
end

KINDS.mget = ',Map,'
OPS.mget = function() return maybe(redis.call('HGET', H, arg(1))) end

KINDS.minsert = ',Map,'
OPS.minsert = function()
  local old = redis.call('HGET', H, arg(1))
  redis.call('HSET', H, arg(1), arg(2))
  wrote(H)
  bump()
  return maybe(old)
end

KINDS.mremove = ',Map,'
OPS.mremove = function()
  local old = redis.call('HGET', H, arg(1))
  if old then
    redis.call('HDEL', H, arg(1))
    bump()
  end
  return maybe(old)
end

KINDS.mcontains = ',Map,'
OPS.mcontains = function() return enc('Y', flag(redis.call('HEXISTS', H, arg(1)) == 1)) end

KINDS.mlen = ',Map,'
OPS.mlen = function() return enc('C', redis.call('HLEN', H)) end

KINDS.mkeys = ',Map,'
OPS.mkeys = function()
  return 'S' .. all(redis.call('HKEYS', H))
end

KINDS.mentries = ',Map,'
OPS.mentries = function()
  return 'P' .. all(redis.call('HGETALL', H))
end

KINDS.mclear = ',Map,'
OPS.mclear = function()
  redis.call('DEL', H)
  bump()
  return enc('D')
end

-- For a merge the client computes: the map's version, then per key "1"+value or "0". The
-- first argument is the merge's once-token ('' for none): "Y0" if it was applied already.
KINDS.mread = ',Map,'
OPS.mread = function()
  local once = arg(1)
  if once ~= '' and meta('o:' .. once) then return enc('Y', '0') end
  local out = { ns(meta('ver')) }
  for i = 2, nargs() do
    local v = redis.call('HGET', H, arg(i))
    if v then out[#out + 1] = ns('1' .. v) else out[#out + 1] = ns('0') end
  end
  return 'S' .. table.concat(out)
end

-- Writes the merged pairs if the map is still at the version read; "K" if it changed. With a
-- once-token (second argument), records it and answers "Y1".
KINDS.mwrite = ',Map,'
OPS.mwrite = function()
  if meta('ver') ~= arg(1) then return enc('K') end
  for i = 3, nargs(), 2 do redis.call('HSET', H, arg(i), arg(i + 1)) end
  wrote(H)
  bump()
  local once = arg(2)
  if once ~= '' then
    set('o:' .. once, '1')
    return enc('Y', '1')
  end
  return enc('D')
end
