-- take (Redis Cluster's cycle, first half): KEYS[1] = the old record.
-- Returns its fields and deletes it, atomically; an empty array if it is gone.
if redis.call('TYPE', KEYS[1])['ok'] ~= 'hash' then return {} end
local fields = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
return fields
