if redis.call('TYPE', KEYS[1])['ok'] ~= 'hash' then return 0 end
local k = KEYS[1]
