/*-------------------------------------------------------------------------
 *
 * token.h
 *	  Signed change tokens: what the guard needs to know about the tokens
 *	  authorised in the current transaction.
 *
 * tombstone.authorize(token) verifies a JWS compact token (HS256 or EdDSA),
 * consumes one of its uses and binds it to the current transaction; the
 * binding ends with the transaction, or with the subtransaction that made it
 * if that one aborts.  The guard (policy/guard.c) and purge ask which bound
 * tokens cover what a statement is doing.
 *
 * src/policy/token.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOMBSTONE_TOKEN_H
#define TOMBSTONE_TOKEN_H

#include "datatype/timestamp.h"
#include "nodes/pg_list.h"

/* Largest token authorize() accepts, in bytes */
#define TOMBSTONE_TOKEN_MAX_LEN		8192

/* One verified token bound to the current transaction */
typedef struct TombstoneToken
{
	char	   *jti;
	char	   *kid;
	char	   *alg;
	char	   *op;				/* delete, delete_tenant, purge, rewind, ddl,
								 * unprotect */
	char	   *sub;			/* NULL if absent */
	char	   *reason;			/* NULL if absent */
	List	   *tables;			/* OIDs of the tables named in "tables" */
	List	   *tenants;		/* char * of "tenants"; NIL if all_tenants */
	bool		all_tenants;	/* "tenants": ["*"] */
	int64		max_rows;		/* -1: no budget given */
	int64		rows_used;		/* rows charged to it in this transaction */
	TimestampTz exp;
	SubTransactionId subxid;	/* bound in this subtransaction */
} TombstoneToken;

extern void TombstoneTokenInit(void);

/* Tokens bound to the current transaction, oldest first (TombstoneToken *) */
extern List *TombstoneTokensBound(void);

/* Whether a bound token names this table (or an ancestor it is protected through) */
extern bool TombstoneTokenCoversTable(const TombstoneToken *token, Oid relid);

/* Whether a bound token names this tenant (or all tenants) */
extern bool TombstoneTokenCoversTenant(const TombstoneToken *token,
									   const char *tenant);

#endif							/* TOMBSTONE_TOKEN_H */
