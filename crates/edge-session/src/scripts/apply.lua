for i = 2, #ARGV, 3 do
  local op, field, value = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if op == 's' then
    redis.call('HSET', k, field, value)
  elseif op == 'd' then
    redis.call('HDEL', k, field)
  else
    local r = redis.pcall('HINCRBY', k, field, value)
    if type(r) == 'table' and r.err then redis.call('HSET', k, field, value) end
  end
end
redis.call('EXPIRE', k, ARGV[1])
return 1
