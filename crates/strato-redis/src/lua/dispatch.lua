-- Turns the tables above into sets, once, on the first call (the code run at load time may
-- not use the standard library).
local prepared = false
local function prepare()
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
    local kind
    local fields = FETCH[OP]
    if fields then
      local got = redis.call('HMGET', M, 'kind', unpack(fields))
      kind = got[1]
      for i, field in ipairs(fields) do FETCHED[field] = got[i + 1] end
    else
      kind = meta('kind')
    end
    if not kind then return err('NotFound', 'no object named `' .. name() .. '`') end
    FETCHED.kind = kind
    if not wanted[kind] then
      return err('WrongType', OP .. ' is not an operation of a ' .. kind)
    end
  end
  local reply = run()
  spread_ttl()
  return reply
end

-- Any answer but "Q" (parked) goes to the wake list if the caller waits there already.
local function answer()
  local reply = dispatch()
  if VIA_WAKE and TICKET ~= '' and reply ~= 'Q' then
    wake(TICKET, reply)
    return 'P'
  end
  return reply
end

redis.register_function('FUNCTION_NAME', function(keys, args)
  if not prepared then prepare() end
  bind(keys, args)
  return answer()
end)
