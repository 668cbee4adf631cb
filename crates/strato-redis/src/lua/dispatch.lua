-- Runs the op named by ARGV[1], after checking the object exists and is of a kind the op
-- applies to.
local function dispatch()
  local run = OPS[OP]
  if not run then return err('Invalid', 'unknown operation `' .. OP .. '`') end
  local wanted = KINDS[OP]
  if wanted then
    local kind = meta('kind')
    if not kind then return err('NotFound', 'no object named `' .. NAME .. '`') end
    if not string.find(wanted, ',' .. kind .. ',', 1, true) then
      return err('WrongType', OP .. ' is not an operation of a ' .. kind)
    end
  end
  local reply = run()
  spread_ttl()
  return reply
end

redis.register_function('FUNCTION_NAME', function(keys, args)
  bind(keys, args)
  return dispatch()
end)
