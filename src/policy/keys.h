/*-------------------------------------------------------------------------
 *
 * keys.h
 *	  The keys that sign change tokens, and the uses of each token.
 *
 * src/policy/keys.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOMBSTONE_KEYS_H
#define TOMBSTONE_KEYS_H

#include "datatype/timestamp.h"
#include "nodes/pg_list.h"
#include "policy/jws.h"

/* Longest key id, in bytes */
#define TOMBSTONE_KEY_ID_MAX_LEN	200

/* A row of tombstone.keys */
typedef struct TombstoneKey
{
	TombstoneJwsKey jws;		/* id, algorithm, key bytes */
	bool		all_ops;		/* ops is NULL */
	List	   *ops;			/* char * */
} TombstoneKey;

extern bool TombstoneIsTokenOp(const char *op);
extern const char *TombstoneTokenOpList(void);
extern bool TombstoneKeyFetch(const char *kid, TombstoneKey *key,
							  const char *fname);
extern bool TombstoneKeyAllowsOp(const TombstoneKey *key, const char *op);
extern int32 TombstoneKeyConsumeUse(const char *jti, const char *kid,
									int32 max_uses_claimed, TimestampTz exp,
									int32 *max_uses);

#endif							/* TOMBSTONE_KEYS_H */
