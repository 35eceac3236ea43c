if redis.call('TYPE', KEYS[1])['ok'] ~= 'hash' then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 2 end
redis.call('RENAME', KEYS[1], KEYS[2])
local k = KEYS[2]
