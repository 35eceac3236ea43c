if redis.call('TYPE', KEYS[1])['ok'] ~= 'hash' then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 2 end
redis.call('RENAME', KEYS[1], KEYS[2])
for i = 2, #ARGV, 3 do
  local op, field, value = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if op == 's' then
    redis.call('HSET', KEYS[2], field, value)
  elseif op == 'd' then
    redis.call('HDEL', KEYS[2], field)
  else
    local r = redis.pcall('HINCRBY', KEYS[2], field, value)
    if type(r) == 'table' and r.err then redis.call('HSET', KEYS[2], field, value) end
  end
end
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('EXPIRE', KEYS[2], ARGV[1]) end
return 1
