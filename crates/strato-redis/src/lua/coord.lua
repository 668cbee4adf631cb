-- Event, Barrier, Future (promise), CountDownLatch.

INIT.Event = function() set('set', '0') end

SERVE.event = function() if meta('set') == '1' then return enc('D') end end

KINDS.ev_set = ',Event,'
OPS.ev_set = function()
  set('set', '1')
  serve()
  return enc('D')
end

KINDS.ev_clear = ',Event,'
OPS.ev_clear = function() set('set', '0') return enc('D') end

KINDS.ev_is_set = ',Event,'
OPS.ev_is_set = function() return enc('Y', meta('set')) end

KINDS.ev_wait = ',Event,'
OPS.ev_wait = function() return SERVE.event() or block('event') end

-- Barrier: the party that completes a generation leads it and releases the others; a party
-- whose wait runs out breaks the barrier for everyone, for good.
INIT.Barrier = function() set('parties', arg(5), 'arrived', 0, 'broken', '0') end

local function break_barrier()
  set('broken', '1')
  for _, w in ipairs(waiters()) do complete(w, enc('R')) end
end

CANCEL.barrier = function() break_barrier() end

KINDS.bar_wait = ',Barrier,'
OPS.bar_wait = function()
  if meta('broken') == '1' then return enc('R') end
  if num('arrived') + 1 < num('parties') then
    local parked = block('barrier')
    if parked == enc('Q') then redis.call('HINCRBY', M, 'arrived', 1) end
    return parked
  end
  set('arrived', 0)
  for _, w in ipairs(waiters()) do complete(w, enc('G', '0')) end
  return enc('G', '1')
end

INIT.Future = function() set('set', '0') end

SERVE.future = function() if meta('set') == '1' then return enc('B', meta('x')) end end

KINDS.fut_set = ',Future,'
OPS.fut_set = function()
  if meta('set') == '1' then return err('AlreadySet', 'the future `' .. name() .. '` is already set') end
  set('set', '1', 'x', arg(1))
  serve()
  return enc('D')
end

KINDS.fut_get = ',Future,'
OPS.fut_get = function() return SERVE.future() or block('future') end

KINDS.fut_is_set = ',Future,'
OPS.fut_is_set = function() return enc('Y', meta('set')) end

INIT.Latch = function() set('count', arg(5)) end

SERVE.latch = function() if num('count') == 0 then return enc('D') end end

KINDS.count_down = ',Latch,'
OPS.count_down = function()
  if num('count') > 0 then redis.call('HINCRBY', M, 'count', -1) end
  serve()
  return enc('D')
end

KINDS.latch_count = ',Latch,'
OPS.latch_count = function() return enc('C', meta('count')) end

KINDS.latch_wait = ',Latch,'
OPS.latch_wait = function() return SERVE.latch() or block('latch') end
