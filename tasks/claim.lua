-- Claim a new article, atomically: store it, index it in its feeds, mark those feeds dirty,
-- append its `created` event, remember its page's HTTP validators and plan its first refresh.
-- A second caller for the same id changes nothing but the seen key and the validators.
-- KEYS[1] article hash (fields json, fp, source, feeds), KEYS[2] event stream, KEYS[3] dirty-feeds set, KEYS[4] seen key
-- KEYS[5] HTTP validators hash of the page, KEYS[6] refresh schedule, KEYS[7..] feed index sorted sets
-- ARGV[1] article json, ARGV[2] fingerprint, ARGV[3] source id, ARGV[4] ttl seconds,
-- ARGV[5] score, ARGV[6] event json, ARGV[7] stream maxlen,
-- ARGV[8] etag, ARGV[9] last-modified, ARGV[10] body hash ('' = keep the stored validators),
-- ARGV[11] refresh member, ARGV[12] refresh due ('' = no refresh), ARGV[13..] feed names
-- Returns {1} when created, {0, existing fingerprint} when the article was already there.
local existing = redis.call('HGET', KEYS[1], 'fp')
redis.call('SET', KEYS[4], ARGV[3], 'EX', ARGV[4])
if ARGV[10] ~= '' then
  redis.call('DEL', KEYS[5])
  redis.call('HSET', KEYS[5], 'etag', ARGV[8], 'last_modified', ARGV[9], 'hash', ARGV[10])
  redis.call('EXPIRE', KEYS[5], ARGV[4])
end
if existing then
  return {0, existing}
end
local feeds = {}
for i = 13, #ARGV do feeds[#feeds + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], 'json', ARGV[1], 'fp', ARGV[2], 'source', ARGV[3],
           'feeds', table.concat(feeds, ' '))
redis.call('EXPIRE', KEYS[1], ARGV[4])
local article_id = string.match(KEYS[1], ':([^:]+)$')
for i = 7, #KEYS do
  redis.call('ZADD', KEYS[i], ARGV[5], article_id)
  redis.call('SADD', KEYS[3], ARGV[13 + i - 7])
end
if ARGV[12] ~= '' then
  redis.call('ZADD', KEYS[6], ARGV[12], ARGV[11])
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[7], '*', 'event', ARGV[6])
return {1}
