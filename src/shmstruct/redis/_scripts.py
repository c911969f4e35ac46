"""The server-side scripts of the Redis store: each runs atomically on the server, so a check and
the write it guards cannot be separated by another client's command.

Every write checks that the key still holds the struct it was attached as (its fingerprint), so
a write never recreates a removed key as a partial hash or lands in another schema's struct; a
write made under the lock also checks that the writer's lease is still the current one (its
fencing token). Errors come back as replies starting with one of the ``ERR_*`` words below.
"""

from __future__ import annotations

__all__ = [
    "ACQUIRE",
    "APPEND",
    "ATOMIC",
    "CREATE",
    "CREATE_LOG",
    "ERR_GONE",
    "ERR_LEASE",
    "ERR_RANGE",
    "LOG_STATE",
    "RELEASE",
    "RENEW",
    "WRITE",
]

ERR_GONE = "SHMSTRUCT_GONE"  # the key was removed, or now holds something else
ERR_LEASE = "SHMSTRUCT_LEASE"  # the writer's lease has passed: another holder may have the lock
ERR_RANGE = "SHMSTRUCT_RANGE"  # an atomic operation would leave the field's range


def _guard(metadata: str, lock: str) -> str:
    """Lua: refuse unless the hash ``metadata`` holds the fingerprint ARGV[1] and, when ARGV[2]
    (the writer's fencing token, '' when it does not hold the lock) is given, the lock ``lock``
    holds that token."""
    return f"""
if redis.call('HGET', {metadata}, '_fingerprint') ~= ARGV[1] then
  return redis.error_reply('{ERR_GONE}')
end
if ARGV[2] ~= '' and redis.call('GET', {lock}) ~= ARGV[2] then
  return redis.error_reply('{ERR_LEASE}')
end
"""


# A struct: KEYS[1] its hash (which holds its fingerprint), KEYS[2] its lock.
_GUARD = _guard("KEYS[1]", "KEYS[2]")


def _set_pairs(first: int) -> str:
    """Lua: set the field / value pairs of ARGV from ``first`` on in the hash KEYS[1]; return 1.
    (One HSET per pair: unpacking thousands of arguments at once would overflow Lua's C stack.)"""
    return f"""
for i = {first}, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
return 1
"""


#: KEYS[1] the hash; ARGV: kind, fingerprint, description, then field / value pairs. 0 if the key exists.
CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], '_kind', ARGV[1], '_fingerprint', ARGV[2], '_schema', ARGV[3])
""" + _set_pairs(4)

#: The guard, then field / value pairs from ARGV[3]: all written, or (an error) none.
WRITE = _GUARD + _set_pairs(3)

#: The guard, then one operation on an integer field. ARGV[3] the field, ARGV[4] the operation,
#: ARGV[5] its operand, ARGV[6] the expected value (compare-exchange), ARGV[7] / ARGV[8] the
#: field's range when Lua's numbers (doubles) hold it exactly, else ''. Returns the previous value
#: as a decimal string (an integer reply would pass through a double and lose digits).
ATOMIC = (
    _GUARD
    + f"""
local field, op, operand = ARGV[3], ARGV[4], ARGV[5]
local old = redis.call('HGET', KEYS[1], field)
if op == 'add' then
  if ARGV[7] ~= '' then
    local new = tonumber(old) + tonumber(operand)
    if new < tonumber(ARGV[7]) or new > tonumber(ARGV[8]) then
      return redis.error_reply('{ERR_RANGE}')
    end
  end
  local ok = redis.pcall('HINCRBY', KEYS[1], field, operand)
  if type(ok) == 'table' and ok.err then
    return redis.error_reply('{ERR_RANGE}')
  end
elseif op == 'exchange' then
  redis.call('HSET', KEYS[1], field, operand)
elseif op == 'cas' then
  if old == ARGV[6] then
    redis.call('HSET', KEYS[1], field, operand)
  end
end
return old
"""
)

#: KEYS[1] the lock, KEYS[2] its fencing counter; ARGV[1] the lease in ms. {1, token} when taken,
#: {0, ms left of the holder's lease} when not.
ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0, redis.call('PTTL', KEYS[1])}
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token, 'PX', ARGV[1])
return {1, token}
"""

#: KEYS[1] the lock, KEYS[2] its wake-up list; ARGV[1] the token, ARGV[2] the lease in ms.
#: 1 when released (one waiter is woken), 0 when the lease had passed.
RELEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('DEL', KEYS[2])
redis.call('RPUSH', KEYS[2], '1')
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1
"""

#: KEYS[1] the lock; ARGV[1] the token, ARGV[2] the new lease in ms. 1 when renewed, 0 when lost.
RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

#: KEYS[1] the stream, KEYS[2] the log's metadata hash; ARGV: fingerprint, description, capacity,
#: ring ('1' / '0'). 0 if either key exists.
CREATE_LOG = """
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
redis.call('HSET', KEYS[2], '_kind', 'log', '_fingerprint', ARGV[1], '_schema', ARGV[2],
           'capacity', ARGV[3], 'ring', ARGV[4], 'appended', 0)
return 1
"""

#: KEYS[1] the stream, KEYS[2] the metadata, KEYS[3] the lock; ARGV[1] the fingerprint, ARGV[2]
#: the token, ARGV[3] the row. The number of earlier appends, or -1: full (nothing added).
APPEND = (
    _guard("KEYS[2]", "KEYS[3]")
    + """
local appended = tonumber(redis.call('HGET', KEYS[2], 'appended'))
local capacity = redis.call('HGET', KEYS[2], 'capacity')
if redis.call('HGET', KEYS[2], 'ring') == '1' then
  redis.call('XADD', KEYS[1], 'MAXLEN', capacity, '*', 'row', ARGV[3])
elseif appended >= tonumber(capacity) then
  return -1
else
  redis.call('XADD', KEYS[1], '*', 'row', ARGV[3])
end
redis.call('HINCRBY', KEYS[2], 'appended', 1)
return appended
"""
)

#: KEYS[1] the stream, KEYS[2] the metadata; ARGV[1] the fingerprint. {appends made, the id of
#: the stream's last entry ('0-0' when empty)}, read together, so that a reader that then blocks
#: for entries after that id cannot miss an append made in between.
LOG_STATE = (
    f"""
if redis.call('HGET', KEYS[2], '_fingerprint') ~= ARGV[1] then
  return redis.error_reply('{ERR_GONE}')
end
"""
    + """
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local id = '0-0'
if #last > 0 then
  id = last[1][1]
end
return {tonumber(redis.call('HGET', KEYS[2], 'appended')), id}
"""
)
