if redis.call('TYPE', KEYS[1])['ok'] ~= 'hash' then return 0 end
for i = 2, #ARGV, 3 do
  local op, field, value = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if op == 's' then
    redis.call('HSET', KEYS[1], field, value)
  elseif op == 'd' then
    redis.call('HDEL', KEYS[1], field)
  else
    local r = redis.pcall('HINCRBY', KEYS[1], field, value)
    if type(r) == 'table' and r.err then redis.call('HSET', KEYS[1], field, value) end
  end
end
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return 1
