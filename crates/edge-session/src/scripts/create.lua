if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
