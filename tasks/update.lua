-- Replace a stored article whose content changed, if nobody changed it first (compare-and-set on
-- the fingerprint), re-index it, mark its feeds dirty and append one `updated` event.
-- KEYS[1] article hash, KEYS[2] event stream, KEYS[3] dirty-feeds set, KEYS[4..] feed indexes
-- ARGV[1] new json, ARGV[2] new fingerprint, ARGV[3] expected old fingerprint, ARGV[4] ttl,
-- ARGV[5] score, ARGV[6] event json, ARGV[7] stream maxlen, ARGV[8..] feed names
-- Returns 1 when updated, 0 when the stored fingerprint was not the expected one.
if redis.call('HGET', KEYS[1], 'fp') ~= ARGV[3] then
  return 0
end
redis.call('HSET', KEYS[1], 'json', ARGV[1], 'fp', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
local article_id = string.match(KEYS[1], ':([^:]+)$')
for i = 4, #KEYS do
  redis.call('ZADD', KEYS[i], ARGV[5], article_id)
  redis.call('SADD', KEYS[3], ARGV[8 + i - 4])
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[7], '*', 'event', ARGV[6])
return 1
