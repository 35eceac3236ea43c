if redis.call('TYPE', KEYS[1])['ok'] ~= 'hash' then return {} end
local fields = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
return fields
