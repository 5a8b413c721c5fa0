/*-------------------------------------------------------------------------
 *
 * token.c
 *	  Signed change tokens: parsing, signature checks, keys, signing and
 *	  binding to a transaction.
 *
 * A change token is a JWS in compact form, base64url(header) "."
 * base64url(payload) "." base64url(signature), signed with HS256
 * (HMAC-SHA256) or EdDSA (Ed25519).  The header names the key in "kid";
 * keys live in tombstone.keys, which no application role can read.
 * tombstone.authorize(token) checks the token in a fixed order, each step
 * with its own SQLSTATE (TB020..TB029): form and size, header, algorithm,
 * key, signature, claims, the key's operations, audience, validity period,
 * role, tables; only then does it consume one use of the token in
 * tombstone.token_uses and bind the token to the current transaction, where
 * the guard finds it with TombstoneTokensBound().  Nothing in the payload is
 * interpreted before its signature has been checked.
 *
 * Application roles call authorize(), so the catalog tables are read and
 * written as the owner of tombstone.keys (the extension's owner).  On the
 * path of authorize() they are read and written directly, heap and index,
 * as the server does its own catalogs: an SPI statement would spend more on
 * executor start-up and shutdown than the token's checks cost.  The OIDs of
 * the tables and their primary keys are found once per backend and
 * forgotten on any relcache invalidation of one of them (dropping the
 * extension, a new owner, a new index).  Keys are not cached: the key row
 * is visited on every call anyway to lock it.
 *
 * The key row is locked FOR KEY SHARE, as SELECT ... FOR KEY SHARE would,
 * so tombstone.remove_key() waits for every transaction that authorised a
 * token with that key, and a token whose key was removed first is refused.
 * Consuming a use does what INSERT ... ON CONFLICT (jti) DO UPDATE SET uses
 * = uses + 1 WHERE uses < max_uses would: the use row is found with a dirty
 * snapshot, locked and updated, or inserted.  Instead of speculative
 * insertion, authorize() first takes a transaction-long lock on the jti (an
 * object lock in the name of tombstone.token_uses, on a hash of the jti), so
 * of two transactions racing for the last use of a token the second waits
 * and is refused once the first commits (it gets the use if the first
 * aborts); under REPEATABLE READ it gets a serialization failure, as with
 * ON CONFLICT.  The row lock alone would serialise them just as long.
 *
 * Time checks are exact: a token is expired from the second named in "exp"
 * on and not valid before "nbf"; there is no allowance for clock skew.
 *
 * Ed25519 verification costs about 100 us, so a backend remembers which
 * EdDSA tokens it has verified with which key (a SHA-256 of the token, and
 * of the key id, algorithm and key bytes).  Only the signature check is
 * skipped on a hit: the key must still exist, and every claim is checked
 * again on every call.
 *
 * src/token.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "common/hashfn.h"
#include "common/jsonapi.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "storage/lmgr.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/varlena.h"

#include "pg_tombstone.h"
#include "token.h"

#define TOKEN_KEYS_TABLE		"keys"
#define TOKEN_USES_TABLE		"token_uses"

/* Column numbers of tombstone.keys and tombstone.token_uses (extension script) */
#define Anum_keys_key_id		1
#define Anum_keys_alg			2
#define Anum_keys_key			3
#define Anum_keys_ops			4
#define Natts_keys				6
#define Anum_uses_jti			1
#define Anum_uses_key_id		2
#define Anum_uses_uses			3
#define Anum_uses_max_uses		4
#define Anum_uses_first_used	5
#define Anum_uses_last_used		6
#define Anum_uses_exp			7
#define Natts_uses				7

#define SHA256_LEN				32
#define HS256_SIG_LEN			32
#define ED25519_KEY_LEN			32
#define ED25519_SIG_LEN			64
#define HS256_MIN_SECRET		32
#define KEY_ID_MAX_LEN			200
#define CLAIM_STRING_MAX_LEN	1024

/* Seconds from 1970-01-01 to 2000-01-01, PostgreSQL's epoch */
#define UNIX_TO_PG_EPOCH_SECS \
	((double) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY)
/* Largest NumericDate accepted: 9999-12-31 23:59:59 UTC */
#define NUMERIC_DATE_MAX		253402300799.0

/* Entries of the per-backend caches before they are emptied */
#define VERIFIED_CACHE_MAX		1024
#define PKEY_CACHE_MAX			64

/* The operations a token can authorise */
static const char *const token_ops[] = {
	"delete", "delete_tenant", "purge", "rewind", "ddl", "unprotect", NULL
};

/* GUC tombstone.audience: empty means the default of audience() */
static char *token_audience_setting = NULL;

/* Tokens bound to the current transaction, in TopTransactionContext */
static List *bound_tokens = NIL;

/* SPI plans of the key administration functions, prepared once per backend */
static SPIPlanPtr add_key_plan = NULL;
static SPIPlanPtr remove_key_plan = NULL;

/*
 * The catalog tables authorize() reads and writes.  Valid until a relcache
 * invalidation of one of them (or of every relation); kept only in a
 * backend that registered the callback, i.e. where the library is preloaded.
 */
typedef struct TokenCatalog
{
	bool		valid;
	Oid			owner;			/* owner of tombstone.keys */
	Oid			keys_relid;
	Oid			keys_pkey;		/* its primary key, on key_id */
	Oid			uses_relid;
	Oid			uses_pkey;		/* its primary key, on jti */
} TokenCatalog;

static TokenCatalog token_catalog;
static bool token_catalog_callback = false;
static uint64 token_catalog_invalidations = 0;

/* The default audience; a backend's database has one name for its life */
static char *default_audience = NULL;

/* EdDSA tokens this backend has verified: token digest -> key digest */
typedef struct VerifiedEntry
{
	uint8		token_digest[SHA256_LEN];	/* hash key */
	uint8		key_digest[SHA256_LEN];
} VerifiedEntry;

static HTAB *verified_cache = NULL;

/* Ed25519 public keys ready for OpenSSL: key digest -> EVP_PKEY */
typedef struct PkeyEntry
{
	uint8		key_digest[SHA256_LEN]; /* hash key */
	EVP_PKEY   *pkey;
} PkeyEntry;

static HTAB *pkey_cache = NULL;

/* A row of tombstone.keys */
typedef struct TokenKey
{
	char	   *kid;
	char	   *alg;
	bytea	   *key;
	bool		all_ops;		/* ops is NULL */
	List	   *ops;			/* char * */
} TokenKey;

/*
 * What is known of the token being checked, for the detail of a refusal.
 * Fields are filled as checking proceeds; never holds the signature.
 */
typedef struct TokenDesc
{
	const char *kid;
	const char *alg;
	const char *jti;
	const char *op;
	bool		has_exp;
	TimestampTz exp;
} TokenDesc;

/* The claims of a token, checked for presence and type */
typedef struct TokenClaims
{
	char	   *op;
	List	   *aud;			/* char * */
	TimestampTz exp;
	bool		has_nbf;
	TimestampTz nbf;
	bool		has_iat;
	double		iat;			/* seconds since 1970 */
	char	   *jti;
	bool		has_tables;
	List	   *tables;			/* char *, as written */
	bool		has_tenants;
	List	   *tenants;		/* char * */
	bool		all_tenants;
	int64		max_rows;		/* -1: absent */
	char	   *sub;
	char	   *reason;
	int32		max_uses;
	char	   *role;
} TokenClaims;

/* State of the duplicate-member check while a JSON text is parsed */
typedef struct JsonCheckState
{
	int			depth;
	List	   *members;		/* names of the top-level members */
	char	   *duplicate;		/* first name seen twice */
	char	   *bad_number;		/* first number out of bounds */
} JsonCheckState;

PG_FUNCTION_INFO_V1(tombstone_audience);
PG_FUNCTION_INFO_V1(tombstone_authorize);
PG_FUNCTION_INFO_V1(tombstone_sign);
PG_FUNCTION_INFO_V1(tombstone_add_key);
PG_FUNCTION_INFO_V1(tombstone_remove_key);
PG_FUNCTION_INFO_V1(tombstone_bound_tokens);

static void token_xact_callback(XactEvent event, void *arg);
static void token_relcache_callback(Datum arg, Oid relid);
static void token_subxact_callback(SubXactEvent event,
								   SubTransactionId mySubid,
								   SubTransactionId parentSubid, void *arg);


/* ----------------------------------------------------------------
 *		Start-up and transaction binding
 * ----------------------------------------------------------------
 */

/*
 * Define the GUC of this subsystem and follow transaction ends, which end
 * the binding of tokens.  Called from _PG_init when preloaded.
 */
void
TombstoneTokenInit(void)
{
	DefineCustomStringVariable("tombstone.audience",
							   "Sets the audience (\"aud\") that change tokens must name to be accepted in this database.",
							   "Empty means pg_tombstone:<system identifier>:<database name>, as returned by tombstone.audience().",
							   &token_audience_setting,
							   "",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);

	RegisterXactCallback(token_xact_callback, NULL);
	RegisterSubXactCallback(token_subxact_callback, NULL);
	CacheRegisterRelcacheCallback(token_relcache_callback, (Datum) 0);
	token_catalog_callback = true;
}

/*
 * Forget the catalog OIDs when one of the tables or their primary keys is
 * invalidated: the extension may have been dropped and created again, the
 * owner changed, an index added.
 */
static void
token_relcache_callback(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) ||
		relid == token_catalog.keys_relid ||
		relid == token_catalog.keys_pkey ||
		relid == token_catalog.uses_relid ||
		relid == token_catalog.uses_pkey)
	{
		token_catalog.valid = false;
		token_catalog_invalidations++;
	}
}

/*
 * The bound tokens live in TopTransactionContext, which goes away with the
 * transaction; forget the list when it does.
 */
static void
token_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			bound_tokens = NIL;
			break;
		default:
			break;
	}
}

/*
 * A token bound in a subtransaction that aborts is unbound: the use it
 * consumed was rolled back with it.  Tokens of a subtransaction that commits
 * now belong to its parent, so that they go if the parent aborts.
 */
static void
token_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	ListCell   *lc;

	if (bound_tokens == NIL)
		return;

	if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		foreach(lc, bound_tokens)
		{
			TombstoneToken *token = (TombstoneToken *) lfirst(lc);

			if (token->subxid == mySubid)
				token->subxid = parentSubid;
		}
	}
	else if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		foreach(lc, bound_tokens)
		{
			TombstoneToken *token = (TombstoneToken *) lfirst(lc);

			if (token->subxid == mySubid)
				bound_tokens = foreach_delete_current(bound_tokens, lc);
		}
	}
}

List *
TombstoneTokensBound(void)
{
	return bound_tokens;
}

/*
 * The direct parents of a relation in pg_inherits (a partition's parent, or
 * the parents of an inheritance child).
 */
static List *
inheritance_parents(Oid relid)
{
	List	   *parents = NIL;
	Relation	inhrel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;

	inhrel = table_open(InheritsRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_inherits_inhrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(inhrel, InheritsRelidSeqnoIndexId, true,
							  NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
		parents = lappend_oid(parents,
							  ((Form_pg_inherits) GETSTRUCT(tup))->inhparent);
	systable_endscan(scan);
	table_close(inhrel, AccessShareLock);
	return parents;
}

/*
 * A token covers a table it names, and every partition or inheritance child
 * of a table it names, at any depth.
 */
bool
TombstoneTokenCoversTable(const TombstoneToken *token, Oid relid)
{
	List	   *todo;
	List	   *seen = NIL;
	bool		covered = false;

	if (token == NULL || !OidIsValid(relid))
		return false;
	if (list_member_oid(token->tables, relid))
		return true;
	if (token->tables == NIL)
		return false;

	todo = inheritance_parents(relid);
	while (todo != NIL && !covered)
	{
		Oid			parent = linitial_oid(todo);

		todo = list_delete_first(todo);
		if (list_member_oid(seen, parent))
			continue;
		seen = lappend_oid(seen, parent);
		if (list_member_oid(token->tables, parent))
			covered = true;
		else
			todo = list_concat(todo, inheritance_parents(parent));
	}
	list_free(todo);
	list_free(seen);
	return covered;
}

bool
TombstoneTokenCoversTenant(const TombstoneToken *token, const char *tenant)
{
	ListCell   *lc;

	if (token == NULL)
		return false;
	if (token->all_tenants)
		return true;
	if (tenant == NULL)
		return false;
	foreach(lc, token->tenants)
	{
		if (strcmp((const char *) lfirst(lc), tenant) == 0)
			return true;
	}
	return false;
}


/* ----------------------------------------------------------------
 *		Encoding helpers
 * ----------------------------------------------------------------
 */

static const char b64url_alphabet[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int
b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/*
 * Decode unpadded base64url.  Only the canonical encoding is accepted: no
 * padding, no other characters, and the unused low bits of the last
 * character must be zero, so that each value has exactly one encoding.
 * The result is NUL-terminated (not counted in *outlen).
 */
static bool
b64url_decode(const char *in, int len, char **out, int *outlen)
{
	char	   *buf;
	int			n = 0;
	uint32		acc = 0;
	int			bits = 0;
	int			i;

	if (len % 4 == 1)
		return false;
	buf = palloc(len * 3 / 4 + 2);
	for (i = 0; i < len; i++)
	{
		int			v = b64url_value((unsigned char) in[i]);

		if (v < 0)
		{
			pfree(buf);
			return false;
		}
		acc = (acc << 6) | v;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			buf[n++] = (char) ((acc >> bits) & 0xFF);
		}
	}
	if (bits > 0 && (acc & ((1 << bits) - 1)) != 0)
	{
		pfree(buf);
		return false;
	}
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	return true;
}

static void
b64url_encode(const unsigned char *in, int len, StringInfo out)
{
	uint32		acc = 0;
	int			bits = 0;
	int			i;

	for (i = 0; i < len; i++)
	{
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 6)
		{
			bits -= 6;
			appendStringInfoChar(out, b64url_alphabet[(acc >> bits) & 0x3F]);
		}
	}
	if (bits > 0)
		appendStringInfoChar(out, b64url_alphabet[(acc << (6 - bits)) & 0x3F]);
}

static void
sha256(const void *data, size_t len, uint8 *digest)
{
	unsigned int dlen = SHA256_LEN;

	if (EVP_Digest(data, len, digest, &dlen, EVP_sha256(), NULL) != 1)
		elog(ERROR, "could not compute SHA-256 digest");
}

/*
 * The identity of a key for the caches: a digest of its id, algorithm and
 * key bytes, so that a key replaced under the same id is a different key.
 */
static void
key_digest(const TokenKey *key, uint8 *digest)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, key->kid, strlen(key->kid) + 1);
	appendBinaryStringInfo(&buf, key->alg, strlen(key->alg) + 1);
	appendBinaryStringInfo(&buf, VARDATA_ANY(key->key),
						   VARSIZE_ANY_EXHDR(key->key));
	sha256(buf.data, buf.len, digest);
	pfree(buf.data);
}

static bool
is_token_op(const char *op)
{
	int			i;

	for (i = 0; token_ops[i] != NULL; i++)
		if (strcmp(op, token_ops[i]) == 0)
			return true;
	return false;
}

static const char *
token_op_list(void)
{
	return "delete, delete_tenant, purge, rewind, ddl, unprotect";
}


/* ----------------------------------------------------------------
 *		Refusals
 * ----------------------------------------------------------------
 */

/*
 * " Token presented: key "k1", algorithm "HS256", jti "abc", ...": what is
 * known of the presented token, to end an errdetail; empty if nothing is.
 * Never includes the signature, or anything of the key but its id.
 */
static char *
presented(const TokenDesc *desc)
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (desc->kid)
		appendStringInfo(&buf, "key \"%s\"", desc->kid);
	if (desc->alg)
		appendStringInfo(&buf, "%salgorithm \"%s\"", buf.len ? ", " : "",
						 desc->alg);
	if (desc->jti)
		appendStringInfo(&buf, "%sjti \"%s\"", buf.len ? ", " : "",
						 desc->jti);
	if (desc->op)
		appendStringInfo(&buf, "%soperation \"%s\"", buf.len ? ", " : "",
						 desc->op);
	if (desc->has_exp)
		appendStringInfo(&buf, "%sexpiry %s", buf.len ? ", " : "",
						 timestamptz_to_str(desc->exp));
	if (buf.len == 0)
		return "";
	return psprintf(" Token presented: %s.", buf.data);
}

static void
refuse_malformed(const TokenDesc *desc, const char *problem)
	pg_attribute_noreturn();

/* TB020 with a detail naming the problem */
static void
refuse_malformed(const TokenDesc *desc, const char *problem)
{
	ereport(ERROR,
			(errcode(ERRCODE_TOMBSTONE_TOKEN_MALFORMED),
			 errmsg("malformed change token"),
			 errdetail("%s%s", problem, presented(desc)),
			 errhint("Present the token exactly as it was issued: three base64url parts (header, claims, signature) separated by periods.")));
}

static void
refuse_claim(const TokenDesc *desc, const char *claim, const char *problem)
	pg_attribute_noreturn();

/* TB029 for a claim that is missing or of the wrong type */
static void
refuse_claim(const TokenDesc *desc, const char *claim, const char *problem)
{
	ereport(ERROR,
			(errcode(ERRCODE_TOMBSTONE_TOKEN_CLAIMS),
			 errmsg("change token claim \"%s\" is %s", claim,
					problem ? "invalid" : "missing"),
			 errdetail("%s%s",
					   problem ? problem :
					   psprintf("Every change token needs the claim \"%s\".", claim),
					   presented(desc)),
			 errhint("Required claims are op, aud, exp and jti; see the README for the type of each claim.")));
}


/* ----------------------------------------------------------------
 *		JSON
 * ----------------------------------------------------------------
 */

static void
json_check_object_start(void *state)
{
	((JsonCheckState *) state)->depth++;
}

static void
json_check_object_end(void *state)
{
	((JsonCheckState *) state)->depth--;
}

/* Remember the top-level member names; note the first one seen twice */
static void
json_check_field(void *state, char *fname, bool isnull)
{
	JsonCheckState *st = (JsonCheckState *) state;
	ListCell   *lc;

	if (st->depth != 1 || st->duplicate)
		return;
	foreach(lc, st->members)
	{
		if (strcmp((char *) lfirst(lc), fname) == 0)
		{
			st->duplicate = fname;
			return;
		}
	}
	st->members = lappend(st->members, fname);
}

/*
 * Numbers whose exponent is beyond what numeric accepts would make jsonb_in
 * fail with an error of its own; note them so they are refused as
 * malformed.  No claim needs such a number.
 */
static void
json_check_scalar(void *state, char *token, JsonTokenType tokentype)
{
	JsonCheckState *st = (JsonCheckState *) state;
	char	   *e;

	if (tokentype != JSON_TOKEN_NUMBER || st->bad_number)
		return;
	e = strpbrk(token, "eE");
	if (strlen(token) > 100 ||
		(e != NULL && (strlen(e + 1) > 5 || labs(strtol(e + 1, NULL, 10)) > 1000)))
		st->bad_number = token;
}

/*
 * Parse one decoded part of a token (header or claims) into jsonb.  The
 * text must be valid in the database encoding, be valid JSON without NUL
 * characters, be an object, and name no member twice (a parser that kept
 * the first of two "alg" members would read another token than we do).
 * Everything wrong is refused as malformed (TB020), never with the error of
 * the JSON parser.
 */
static Jsonb *
parse_json_object(char *text, int len, const char *part, TokenDesc *desc)
{
	JsonLexContext *lex;
	JsonSemAction sem;
	JsonCheckState st;
	JsonParseErrorType result;
	Jsonb	   *jb;

	if (memchr(text, '\0', len) != NULL ||
		!pg_verifymbstr(text, len, true))
		refuse_malformed(desc, psprintf("The %s is not valid text in the database encoding.", part));

	memset(&st, 0, sizeof(st));
	memset(&sem, 0, sizeof(sem));
	sem.semstate = &st;
	sem.object_start = json_check_object_start;
	sem.object_end = json_check_object_end;
	sem.object_field_start = json_check_field;
	sem.scalar = json_check_scalar;

	lex = makeJsonLexContextCstringLen(text, len, GetDatabaseEncoding(), true);
	result = pg_parse_json(lex, &sem);
	if (result != JSON_SUCCESS)
		refuse_malformed(desc, psprintf("The %s is not valid JSON: %s", part,
										json_errdetail(result, lex)));
	if (st.duplicate)
		refuse_malformed(desc, psprintf("The %s names member \"%s\" more than once.",
										part, st.duplicate));
	if (st.bad_number)
		refuse_malformed(desc, psprintf("The %s holds number %s, which is out of range.",
										part, st.bad_number));

	jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
	if (!JB_ROOT_IS_OBJECT(jb))
		refuse_malformed(desc, psprintf("The %s is not a JSON object.", part));
	return jb;
}

static JsonbValue *
jsonb_member(Jsonb *jb, const char *name)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) name;
	k.val.string.len = strlen(name);
	return findJsonbValueFromContainer(&jb->root, JB_FOBJECT, &k);
}

static bool
jsonb_value_is_array(JsonbValue *v)
{
	return v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data) &&
		!JsonContainerIsScalar(v->val.binary.data);
}

/* A string claim, or NULL if absent; TB029 if not a non-empty string */
static char *
claim_string(Jsonb *jb, const char *name, TokenDesc *desc)
{
	JsonbValue *v = jsonb_member(jb, name);

	if (v == NULL)
		return NULL;
	if (v->type != jbvString || v->val.string.len == 0 ||
		v->val.string.len > CLAIM_STRING_MAX_LEN)
		refuse_claim(desc, name,
					 psprintf("Claim \"%s\" must be a non-empty string of at most %d bytes.",
							  name, CLAIM_STRING_MAX_LEN));
	return pnstrdup(v->val.string.val, v->val.string.len);
}

static void
refuse_claim_list(TokenDesc *desc, const char *name, bool single_ok)
	pg_attribute_noreturn();

/* TB029 for a claim that must be an array of strings (or a string) */
static void
refuse_claim_list(TokenDesc *desc, const char *name, bool single_ok)
{
	refuse_claim(desc, name, single_ok ?
				 psprintf("Claim \"%s\" must be a string or an array of strings.", name) :
				 psprintf("Claim \"%s\" must be an array of strings.", name));
}

/*
 * An array of strings, or NULL if absent.  TB029 unless every element is
 * a string; a single string is accepted where "single_ok" says so (aud).
 */
static List *
claim_string_list(Jsonb *jb, const char *name, bool single_ok, bool *present,
				  TokenDesc *desc)
{
	JsonbValue *v = jsonb_member(jb, name);
	List	   *result = NIL;
	int			i;
	int			n;

	*present = (v != NULL);
	if (v == NULL)
		return NIL;
	if (single_ok && v->type == jbvString)
	{
		if (v->val.string.len == 0)
			refuse_claim_list(desc, name, single_ok);
		return list_make1(pnstrdup(v->val.string.val, v->val.string.len));
	}
	if (!jsonb_value_is_array(v))
		refuse_claim_list(desc, name, single_ok);
	n = JsonContainerSize(v->val.binary.data);
	for (i = 0; i < n; i++)
	{
		JsonbValue *e = getIthJsonbValueFromContainer(v->val.binary.data, i);

		if (e->type != jbvString || e->val.string.len == 0 ||
			e->val.string.len > CLAIM_STRING_MAX_LEN)
			refuse_claim_list(desc, name, single_ok);
		result = lappend(result, pnstrdup(e->val.string.val, e->val.string.len));
	}
	return result;
}

/*
 * A NumericDate (seconds since 1970-01-01 UTC, fractions allowed) as a
 * timestamp; false if absent, TB029 if not a number in range.
 */
static bool
claim_numeric_date(Jsonb *jb, const char *name, TimestampTz *ts,
				   double *secs, TokenDesc *desc)
{
	JsonbValue *v = jsonb_member(jb, name);
	double		d;

	if (v == NULL)
		return false;
	if (v->type != jbvNumeric)
		refuse_claim(desc, name,
					 psprintf("Claim \"%s\" must be a number of seconds since 1970-01-01 00:00:00 UTC.", name));
	d = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
										   NumericGetDatum(v->val.numeric)));
	if (isnan(d) || d < 0 || d > NUMERIC_DATE_MAX)
		refuse_claim(desc, name,
					 psprintf("Claim \"%s\" must be a number of seconds between 0 and %.0f (the year 9999).",
							  name, NUMERIC_DATE_MAX));
	*ts = (TimestampTz) rint((d - UNIX_TO_PG_EPOCH_SECS) * USECS_PER_SEC);
	if (secs)
		*secs = d;
	return true;
}

/*
 * A positive integer written without fraction or sign, at most "max";
 * -1 if absent.
 */
static int64
claim_positive_integer(Jsonb *jb, const char *name, int64 max,
					   TokenDesc *desc)
{
	JsonbValue *v = jsonb_member(jb, name);
	char	   *text;
	char	   *p;
	int64		result = 0;
	bool		ok;

	if (v == NULL)
		return -1;
	ok = v->type == jbvNumeric;
	if (ok)
	{
		text = DatumGetCString(DirectFunctionCall1(numeric_out,
												   NumericGetDatum(v->val.numeric)));
		ok = *text != '\0' && strlen(text) <= 19;
		for (p = text; ok && *p; p++)
		{
			ok = *p >= '0' && *p <= '9';
			result = result * 10 + (*p - '0');
		}
		ok = ok && result >= 1 && result <= max;
	}
	if (!ok)
		refuse_claim(desc, name,
					 psprintf("Claim \"%s\" must be a positive integer of at most " INT64_FORMAT ".",
							  name, max));
	return result;
}

/*
 * Check the claims of a token for presence and type (TB029), filling
 * "claims" and, as soon as they are known, the jti, operation and expiry in
 * "desc".  Claims this function does not know are ignored, as JWT wants.
 */
static void
read_claims(Jsonb *jb, TokenClaims *claims, TokenDesc *desc)
{
	JsonbValue *v;
	ListCell   *lc;
	bool		present;
	int64		n;

	memset(claims, 0, sizeof(*claims));

	/* jti and exp first: they identify the token in later refusals */
	claims->jti = claim_string(jb, "jti", desc);
	if (claims->jti)
		desc->jti = claims->jti;
	if (claim_numeric_date(jb, "exp", &claims->exp, NULL, desc))
	{
		desc->has_exp = true;
		desc->exp = claims->exp;
	}

	v = jsonb_member(jb, "op");
	if (v == NULL)
		refuse_claim(desc, "op", NULL);
	if (v->type != jbvString)
		refuse_claim(desc, "op", psprintf("Claim \"op\" must be one of %s.", token_op_list()));
	claims->op = pnstrdup(v->val.string.val, v->val.string.len);
	if (!is_token_op(claims->op))
		refuse_claim(desc, "op", psprintf("Operation \"%s\" is not one of %s.",
										  claims->op, token_op_list()));
	desc->op = claims->op;

	claims->aud = claim_string_list(jb, "aud", true, &present, desc);
	if (!present)
		refuse_claim(desc, "aud", NULL);
	if (!desc->has_exp)
		refuse_claim(desc, "exp", NULL);
	if (claims->jti == NULL)
		refuse_claim(desc, "jti", NULL);

	claims->has_nbf = claim_numeric_date(jb, "nbf", &claims->nbf, NULL, desc);
	{
		TimestampTz iat_ts;

		claims->has_iat = claim_numeric_date(jb, "iat", &iat_ts, &claims->iat, desc);
	}

	claims->tables = claim_string_list(jb, "tables", false, &claims->has_tables, desc);
	claims->tenants = claim_string_list(jb, "tenants", false, &claims->has_tenants, desc);
	foreach(lc, claims->tenants)
	{
		if (strcmp((char *) lfirst(lc), "*") == 0)
		{
			if (list_length(claims->tenants) != 1)
				refuse_claim(desc, "tenants",
							 "Claim \"tenants\" is either [\"*\"], meaning all tenants, or a list of tenant ids without \"*\".");
			claims->all_tenants = true;
			claims->tenants = NIL;
			break;
		}
	}

	claims->max_rows = claim_positive_integer(jb, "max_rows", PG_INT64_MAX, desc);
	n = claim_positive_integer(jb, "max_uses", PG_INT32_MAX, desc);
	claims->max_uses = (n < 0) ? 1 : (int32) n;
	claims->sub = claim_string(jb, "sub", desc);
	claims->reason = claim_string(jb, "reason", desc);
	claims->role = claim_string(jb, "role", desc);
}


/* ----------------------------------------------------------------
 *		Keys and uses, as the owner of the catalog
 * ----------------------------------------------------------------
 */

static Oid
token_catalog_relid(const char *name)
{
	Oid			nspid = get_namespace_oid(TOMBSTONE_SCHEMA, false);
	Oid			relid = get_relname_relid(name, nspid);

	if (!OidIsValid(relid))
		elog(ERROR, "catalog table %s.%s does not exist", TOMBSTONE_SCHEMA, name);
	return relid;
}

/*
 * The primary key of a catalog table, which must be on its first column
 * alone (key_id, jti), and the table must have "natts" columns.
 */
static Oid
token_catalog_pkey(Oid relid, int natts)
{
	Relation	rel = table_open(relid, AccessShareLock);
	Oid			pkey;
	Relation	idx;
	bool		ok;

	list_free(RelationGetIndexList(rel));
	pkey = rel->rd_pkindex;
	if (RelationGetDescr(rel)->natts != natts || !OidIsValid(pkey))
		elog(ERROR, "catalog table %s.%s does not have the expected columns and primary key",
			 TOMBSTONE_SCHEMA, RelationGetRelationName(rel));
	idx = index_open(pkey, AccessShareLock);
	ok = IndexRelationGetNumberOfKeyAttributes(idx) == 1 &&
		idx->rd_index->indkey.values[0] == 1 &&
		TupleDescAttr(RelationGetDescr(rel), 0)->atttypid == TEXTOID;
	index_close(idx, AccessShareLock);
	if (!ok)
		elog(ERROR, "primary key of catalog table %s.%s is not on its first column",
			 TOMBSTONE_SCHEMA, RelationGetRelationName(rel));
	table_close(rel, AccessShareLock);
	return pkey;
}

/*
 * The catalog tables of tokens, looked up by name once per backend.
 * Opening them may take invalidations that undo the lookup: look again then.
 */
static const TokenCatalog *
token_catalog_get(void)
{
	while (!token_catalog.valid)
	{
		uint64		invalidations = token_catalog_invalidations;
		TokenCatalog cat;

		cat.keys_relid = token_catalog_relid(TOKEN_KEYS_TABLE);
		cat.uses_relid = token_catalog_relid(TOKEN_USES_TABLE);
		cat.keys_pkey = token_catalog_pkey(cat.keys_relid, Natts_keys);
		cat.uses_pkey = token_catalog_pkey(cat.uses_relid, Natts_uses);
		cat.owner = TombstoneRelationOwner(cat.keys_relid);
		cat.valid = true;
		token_catalog = cat;
		if (!token_catalog_callback)
		{
			/* without the callback, valid for this call only */
			token_catalog.valid = false;
			return &token_catalog;
		}
		if (invalidations != token_catalog_invalidations)
			token_catalog.valid = false;
	}
	return &token_catalog;
}

/*
 * Switch to the owner of tombstone.keys for the statements that follow;
 * the caller restores the saved identity (an error restores it too).
 */
static void
become_catalog_owner(Oid *save_userid, int *save_sec_context)
{
	Oid			owner = token_catalog_get()->owner;

	GetUserIdAndSecContext(save_userid, save_sec_context);
	SetUserIdAndSecContext(owner, *save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
}

static SPIPlanPtr
prepare_kept(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql,
			 SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	return plan;
}

/* An equality scan key on the text column of a one-column index */
static void
text_scan_key(ScanKey skey, Relation idx, const char *value)
{
	ScanKeyEntryInitialize(skey, 0, 1, BTEqualStrategyNumber, InvalidOid,
						   idx->rd_indcollation[0], F_TEXTEQ,
						   CStringGetTextDatum(value));
}

static void
refuse_serialization(const char *what) pg_attribute_noreturn();

/* 40001, as the executor reports a row changed since the snapshot */
static void
refuse_serialization(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("could not serialize access due to concurrent %s", what)));
}

/*
 * Lock the key row at *tid FOR KEY SHARE, as SELECT ... FOR KEY SHARE does
 * (ExecLockRows): wait for a transaction that deletes it, then skip it if
 * it is gone, or under REPEATABLE READ fail.  In READ COMMITTED the newest
 * version is locked and must still be the key "kid".  The row is left in
 * slot.  Returns whether the key is there.
 */
static bool
lock_key_row(Relation rel, ItemPointer tid, TupleTableSlot *slot,
			 const char *kid, Snapshot snapshot)
{
	TM_FailureData tmfd;
	TM_Result	result;
	bool		isnull;
	Datum		d;

	result = table_tuple_lock(rel, tid, snapshot, slot,
							  GetCurrentCommandId(false), LockTupleKeyShare,
							  LockWaitBlock,
							  IsolationUsesXactSnapshot() ? 0 :
							  TUPLE_LOCK_FLAG_FIND_LAST_VERSION,
							  &tmfd);
	switch (result)
	{
		case TM_Ok:
			break;
		case TM_SelfModified:
			/* removed or changed by this transaction since the snapshot */
			return false;
		case TM_Updated:
			if (IsolationUsesXactSnapshot())
				refuse_serialization("update");
			elog(ERROR, "unexpected table_tuple_lock status: %u", result);
			break;
		case TM_Deleted:
			/* ExecLockRows says "update" here too */
			if (IsolationUsesXactSnapshot())
				refuse_serialization("update");
			return false;
		case TM_Invisible:
			elog(ERROR, "attempted to lock invisible tuple");
			break;
		default:
			elog(ERROR, "unrecognized table_tuple_lock status: %u", result);
			break;
	}
	if (!tmfd.traversed)
		return true;
	/* a newer version was locked: it must still be this key */
	d = slot_getattr(slot, Anum_keys_key_id, &isnull);
	return !isnull && strcmp(TextDatumGetCString(d), kid) == 0;
}

/*
 * Read key "kid" as the catalog's owner, into the caller's memory context.
 * The key row is locked FOR KEY SHARE until the transaction ends, so that
 * removing the key waits for this transaction (for sign() that is harmless).
 * Returns false if there is no such key.  "fname" names the SQL function
 * for the refusal in a read-only transaction, which the executor would
 * have made for the statement.
 *
 * The row is found through the primary key with a new snapshot (the
 * transaction's under REPEATABLE READ), as an SPI statement would.
 */
static bool
fetch_key(const char *kid, TokenKey *key, const char *fname)
{
	const TokenCatalog *cat = token_catalog_get();
	Oid			save_userid;
	int			save_sec_context;
	Relation	rel;
	Relation	idx;
	ScanKeyData skey;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	Snapshot	snapshot;
	ItemPointerData tid;
	bool		found = false;

	/* locking a row writes it, and authorize() writes a use next */
	PreventCommandIfReadOnly(fname);
	PreventCommandIfParallelMode(fname);

	become_catalog_owner(&save_userid, &save_sec_context);
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	UpdateActiveSnapshotCommandId();
	snapshot = GetActiveSnapshot();

	rel = table_open(cat->keys_relid, RowShareLock);
	idx = index_open(cat->keys_pkey, AccessShareLock);
	slot = table_slot_create(rel, NULL);
	text_scan_key(&skey, idx, kid);
	scan = index_beginscan(rel, idx, snapshot, 1, 0);
	index_rescan(scan, &skey, 1, NULL, 0);
	if (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		tid = slot->tts_tid;
		found = true;
	}
	index_endscan(scan);
	index_close(idx, AccessShareLock);

	if (found)
		found = lock_key_row(rel, &tid, slot, kid, snapshot);
	if (found)
	{
		bool		isnull;
		Datum		d;

		key->kid = pstrdup(kid);
		d = slot_getattr(slot, Anum_keys_alg, &isnull);
		key->alg = TextDatumGetCString(d);
		d = slot_getattr(slot, Anum_keys_key, &isnull);
		key->key = DatumGetByteaPCopy(d);
		d = slot_getattr(slot, Anum_keys_ops, &isnull);
		key->all_ops = isnull;
		key->ops = NIL;
		if (!isnull)
		{
			Datum	   *elems;
			bool	   *nulls;
			int			nelems;
			int			i;

			deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false,
							  TYPALIGN_INT, &elems, &nulls, &nelems);
			for (i = 0; i < nelems; i++)
				if (!nulls[i])
					key->ops = lappend(key->ops, TextDatumGetCString(elems[i]));
		}
	}

	ExecDropSingleTupleTableSlot(slot);
	table_close(rel, NoLock);
	PopActiveSnapshot();
	SetUserIdAndSecContext(save_userid, save_sec_context);
	return found;
}

/*
 * Find the use row of "jti" and lock it for update, as ON CONFLICT DO
 * UPDATE does with a conflicting row: look with a dirty snapshot, wait for
 * a transaction that is writing the row, lock the row, and start over if it
 * changed meanwhile (under REPEATABLE READ, fail instead, also when the row
 * is not visible to the transaction's snapshot).  The row is left in slot.
 * Returns false if there is no use row.
 */
static bool
lock_use_row(Relation rel, Oid pkey, const char *jti, TupleTableSlot *slot)
{
	Relation	idx = index_open(pkey, AccessShareLock);
	ScanKeyData skey;
	SnapshotData dirty;
	bool		found;

	text_scan_key(&skey, idx, jti);
	InitDirtySnapshot(dirty);
	for (;;)
	{
		IndexScanDesc scan;
		ItemPointerData tid;
		TransactionId xwait = InvalidTransactionId;
		uint32		spec_token = 0;
		TM_FailureData tmfd;
		TM_Result	result;

		found = false;
		scan = index_beginscan(rel, idx, &dirty, 1, 0);
		index_rescan(scan, &skey, 1, NULL, 0);
		if (index_getnext_slot(scan, ForwardScanDirection, slot))
		{
			found = true;
			tid = slot->tts_tid;
			xwait = TransactionIdIsValid(dirty.xmin) ? dirty.xmin : dirty.xmax;
			spec_token = dirty.speculativeToken;
		}
		index_endscan(scan);
		if (!found)
			break;
		if (TransactionIdIsValid(xwait))
		{
			/* being inserted, updated or deleted: wait, then look again */
			if (spec_token != 0)
				SpeculativeInsertionWait(xwait, spec_token);
			else
				XactLockTableWait(xwait, rel, &tid, XLTW_InsertIndexUnique);
			continue;
		}

		result = table_tuple_lock(rel, &tid, GetActiveSnapshot(), slot,
								  GetCurrentCommandId(true),
								  LockTupleNoKeyExclusive, LockWaitBlock, 0,
								  &tmfd);
		if (result == TM_Ok)
		{
			bool		isnull;
			TransactionId xmin;

			if (IsolationUsesXactSnapshot() &&
				!table_tuple_satisfies_snapshot(rel, slot, GetActiveSnapshot()))
			{
				xmin = DatumGetTransactionId(slot_getsysattr(slot,
															 MinTransactionIdAttributeNumber,
															 &isnull));
				if (!TransactionIdIsCurrentTransactionId(xmin))
					refuse_serialization("update");
			}
			break;
		}
		if (result == TM_Updated || result == TM_Deleted)
		{
			if (IsolationUsesXactSnapshot())
				refuse_serialization(result == TM_Updated ? "update" : "delete");
			continue;
		}
		/* every earlier change of this transaction is visible (see caller) */
		elog(ERROR, "unexpected table_tuple_lock status: %u", result);
	}
	index_close(idx, AccessShareLock);
	return found;
}

/*
 * Insert into the indexes of rel the entries of the row in slot (the
 * executor's way, so that any index on the table is kept).
 */
static void
insert_index_entries(Relation rel, TupleTableSlot *slot)
{
	EState	   *estate = CreateExecutorState();
	ResultRelInfo *rri = makeNode(ResultRelInfo);

	InitResultRelInfo(rri, rel, 1, NULL, 0);
	ExecOpenIndices(rri, false);
	if (rri->ri_NumIndices > 0)
		(void) ExecInsertIndexTuples(rri, slot, estate, false, false, NULL, NIL);
	ExecCloseIndices(rri);
	FreeExecutorState(estate);
}

/*
 * Consume one use of token "jti", as the catalog's owner.  Returns the
 * number of uses including this one, or 0 if every use is taken; *max_uses
 * gets the uses allowed, as recorded at the first use.  Does
 * what INSERT ... ON CONFLICT (jti) DO UPDATE SET uses = uses + 1,
 * last_used = clock_timestamp() WHERE uses < max_uses RETURNING uses,
 * max_uses would, without the executor.  A concurrent transaction
 * consuming the same token waits for this one on the lock of the jti.
 */
static int32
consume_use(const TokenClaims *claims, const char *kid, int32 *max_uses)
{
	const TokenCatalog *cat = token_catalog_get();
	Oid			save_userid;
	int			save_sec_context;
	Relation	rel;
	TupleTableSlot *oldslot;
	TupleTableSlot *newslot;
	TimestampTz now = GetCurrentTimestamp();
	int32		uses = 0;

	PreventCommandIfReadOnly("tombstone.authorize()");

	/*
	 * The jti lock: one transaction at a time finds or inserts the row.  Two
	 * jtis with the same hash only wait for each other.
	 */
	LockDatabaseObject(cat->uses_relid,
					   hash_bytes((const unsigned char *) claims->jti,
								  strlen(claims->jti)),
					   0, ExclusiveLock);

	become_catalog_owner(&save_userid, &save_sec_context);
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	UpdateActiveSnapshotCommandId();

	rel = table_open(cat->uses_relid, RowExclusiveLock);
	oldslot = table_slot_create(rel, NULL);
	newslot = table_slot_create(rel, NULL);
	ExecClearTuple(newslot);
	*max_uses = claims->max_uses;

	if (lock_use_row(rel, cat->uses_pkey, claims->jti, oldslot))
	{
		int32		taken;
		int32		allowed;

		slot_getallattrs(oldslot);
		taken = DatumGetInt32(oldslot->tts_values[Anum_uses_uses - 1]);
		allowed = DatumGetInt32(oldslot->tts_values[Anum_uses_max_uses - 1]);
		*max_uses = allowed;
		if (taken < allowed)
		{
			TM_FailureData tmfd;
			LockTupleMode lockmode;
			bool		update_indexes;
			TM_Result	result;

			memcpy(newslot->tts_values, oldslot->tts_values,
				   sizeof(Datum) * Natts_uses);
			memcpy(newslot->tts_isnull, oldslot->tts_isnull,
				   sizeof(bool) * Natts_uses);
			newslot->tts_values[Anum_uses_uses - 1] = Int32GetDatum(taken + 1);
			newslot->tts_values[Anum_uses_last_used - 1] = TimestampTzGetDatum(now);
			ExecStoreVirtualTuple(newslot);
			result = table_tuple_update(rel, &oldslot->tts_tid, newslot,
										GetCurrentCommandId(true),
										GetActiveSnapshot(), InvalidSnapshot,
										true, &tmfd, &lockmode,
										&update_indexes);
			if (result != TM_Ok)
				elog(ERROR, "could not update locked row of %s.%s: status %u",
					 TOMBSTONE_SCHEMA, TOKEN_USES_TABLE, result);
			if (update_indexes)
				insert_index_entries(rel, newslot);
			uses = taken + 1;
		}
	}
	else
	{
		memset(newslot->tts_isnull, 0, sizeof(bool) * Natts_uses);
		newslot->tts_values[Anum_uses_jti - 1] = CStringGetTextDatum(claims->jti);
		newslot->tts_values[Anum_uses_key_id - 1] = CStringGetTextDatum(kid);
		newslot->tts_values[Anum_uses_uses - 1] = Int32GetDatum(1);
		newslot->tts_values[Anum_uses_max_uses - 1] = Int32GetDatum(claims->max_uses);
		newslot->tts_values[Anum_uses_first_used - 1] = TimestampTzGetDatum(now);
		newslot->tts_values[Anum_uses_last_used - 1] = TimestampTzGetDatum(now);
		newslot->tts_values[Anum_uses_exp - 1] = TimestampTzGetDatum(claims->exp);
		ExecStoreVirtualTuple(newslot);
		table_tuple_insert(rel, newslot, GetCurrentCommandId(true), 0, NULL);
		insert_index_entries(rel, newslot);
		uses = 1;
	}

	ExecDropSingleTupleTableSlot(oldslot);
	ExecDropSingleTupleTableSlot(newslot);
	table_close(rel, NoLock);
	PopActiveSnapshot();
	/* the next call in this command sees the row, as after a statement */
	CommandCounterIncrement();
	SetUserIdAndSecContext(save_userid, save_sec_context);
	return uses;
}


/* ----------------------------------------------------------------
 *		Signatures
 * ----------------------------------------------------------------
 */

/*
 * The OpenSSL object of an Ed25519 public key, made once per key and
 * backend.
 */
static EVP_PKEY *
ed25519_pkey(const TokenKey *key, const uint8 *kdigest)
{
	PkeyEntry  *entry;
	bool		found;

	if (pkey_cache == NULL || hash_get_num_entries(pkey_cache) >= PKEY_CACHE_MAX)
	{
		HASHCTL		ctl;

		if (pkey_cache != NULL)
		{
			HASH_SEQ_STATUS status;

			hash_seq_init(&status, pkey_cache);
			while ((entry = (PkeyEntry *) hash_seq_search(&status)) != NULL)
				EVP_PKEY_free(entry->pkey);
			hash_destroy(pkey_cache);
		}
		ctl.keysize = SHA256_LEN;
		ctl.entrysize = sizeof(PkeyEntry);
		pkey_cache = hash_create("pg_tombstone Ed25519 keys", 16, &ctl,
								 HASH_ELEM | HASH_BLOBS);
	}

	entry = (PkeyEntry *) hash_search(pkey_cache, kdigest, HASH_FIND, NULL);
	if (entry != NULL)
		return entry->pkey;
	if (VARSIZE_ANY_EXHDR(key->key) != ED25519_KEY_LEN)
		return NULL;
	{
		EVP_PKEY   *pkey;

		pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL,
										   (const unsigned char *) VARDATA_ANY(key->key),
										   ED25519_KEY_LEN);
		if (pkey == NULL)
			return NULL;
		entry = (PkeyEntry *) hash_search(pkey_cache, kdigest, HASH_ENTER, &found);
		entry->pkey = pkey;
	}
	return entry->pkey;
}

/*
 * Whether "sig" is a valid signature of "input" (the header and payload as
 * they appear in the token) with "key".
 */
static bool
signature_valid(const TokenKey *key, const char *input, int inputlen,
				const char *sig, int siglen, const char *token, int tokenlen)
{
	if (strcmp(key->alg, "HS256") == 0)
	{
		unsigned char mac[EVP_MAX_MD_SIZE];
		unsigned int maclen = 0;

		if (siglen != HS256_SIG_LEN)
			return false;
		if (HMAC(EVP_sha256(), VARDATA_ANY(key->key), VARSIZE_ANY_EXHDR(key->key),
				 (const unsigned char *) input, inputlen, mac, &maclen) == NULL ||
			maclen != HS256_SIG_LEN)
			elog(ERROR, "could not compute HMAC-SHA256");
		return CRYPTO_memcmp(mac, sig, HS256_SIG_LEN) == 0;
	}
	else if (strcmp(key->alg, "EdDSA") == 0)
	{
		uint8		kdigest[SHA256_LEN];
		uint8		tdigest[SHA256_LEN];
		VerifiedEntry *entry;
		EVP_PKEY   *pkey;
		EVP_MD_CTX *ctx;
		bool		ok;

		if (siglen != ED25519_SIG_LEN)
			return false;
		key_digest(key, kdigest);
		sha256(token, tokenlen, tdigest);
		if (verified_cache != NULL)
		{
			entry = (VerifiedEntry *) hash_search(verified_cache, tdigest,
												  HASH_FIND, NULL);
			if (entry != NULL &&
				memcmp(entry->key_digest, kdigest, SHA256_LEN) == 0)
				return true;
		}

		pkey = ed25519_pkey(key, kdigest);
		if (pkey == NULL)
			return false;
		ctx = EVP_MD_CTX_new();
		if (ctx == NULL)
			elog(ERROR, "out of memory in OpenSSL");
		ok = EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) == 1 &&
			EVP_DigestVerify(ctx, (const unsigned char *) sig, siglen,
							 (const unsigned char *) input, inputlen) == 1;
		EVP_MD_CTX_free(ctx);
		if (!ok)
			return false;

		if (verified_cache == NULL ||
			hash_get_num_entries(verified_cache) >= VERIFIED_CACHE_MAX)
		{
			HASHCTL		ctl;

			if (verified_cache != NULL)
				hash_destroy(verified_cache);
			ctl.keysize = SHA256_LEN;
			ctl.entrysize = sizeof(VerifiedEntry);
			verified_cache = hash_create("pg_tombstone verified tokens", 64,
										 &ctl, HASH_ELEM | HASH_BLOBS);
		}
		entry = (VerifiedEntry *) hash_search(verified_cache, tdigest,
											  HASH_ENTER, NULL);
		memcpy(entry->key_digest, kdigest, SHA256_LEN);
		return true;
	}
	return false;
}

/* Whether key "key" may sign tokens of operation "op" */
static bool
key_allows_op(const TokenKey *key, const char *op)
{
	ListCell   *lc;

	if (key->all_ops)
		return true;
	foreach(lc, key->ops)
		if (strcmp((char *) lfirst(lc), op) == 0)
			return true;
	return false;
}

static void
refuse_key_op(const TokenKey *key, const TokenDesc *desc) pg_attribute_noreturn();

/* TB022: the key is limited to other operations */
static void
refuse_key_op(const TokenKey *key, const TokenDesc *desc)
{
	StringInfoData ops;
	ListCell   *lc;

	initStringInfo(&ops);
	foreach(lc, key->ops)
		appendStringInfo(&ops, "%s%s", ops.len ? ", " : "", (char *) lfirst(lc));
	ereport(ERROR,
			(errcode(ERRCODE_TOMBSTONE_TOKEN_KEY),
			 errmsg("key \"%s\" cannot authorize operation \"%s\"", key->kid, desc->op),
			 errdetail("Key \"%s\" is limited to operations %s.%s",
					   key->kid, ops.len ? ops.data : "(none)", presented(desc)),
			 errhint("Sign the token with a key allowed for operation \"%s\".", desc->op)));
}


/* ----------------------------------------------------------------
 *		SQL-callable functions
 * ----------------------------------------------------------------
 */

/*
 * The audience of this database: the GUC if set, else
 * pg_tombstone:<system identifier>:<database name>, made once per backend
 * (the database a backend is connected to cannot be renamed).
 */
static char *
token_audience(void)
{
	if (token_audience_setting != NULL && token_audience_setting[0] != '\0')
		return pstrdup(token_audience_setting);
	if (default_audience == NULL)
	{
		char	   *dbname = get_database_name(MyDatabaseId);

		if (dbname == NULL)
			elog(ERROR, "cache lookup failed for database %u", MyDatabaseId);
		default_audience = MemoryContextStrdup(TopMemoryContext,
											   psprintf("pg_tombstone:" UINT64_FORMAT ":%s",
														GetSystemIdentifier(), dbname));
	}
	return pstrdup(default_audience);
}

/*
 * tombstone.audience(): the "aud" a change token must name to be accepted
 * in this database.
 */
Datum
tombstone_audience(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(token_audience()));
}

/*
 * Resolve the table names of a token's "tables" claim in the caller's
 * search path, as regclass input would.  A name that does not parse or
 * names no relation is refused (TB029): a token is never silently narrower
 * than it says.
 */
static List *
resolve_tables(const TokenClaims *claims, TokenDesc *desc)
{
	List	   *oids = NIL;
	ListCell   *lc;

	foreach(lc, claims->tables)
	{
		char	   *name = (char *) lfirst(lc);
		char	   *copy = pstrdup(name);
		List	   *parts = NIL;
		List	   *names = NIL;
		ListCell   *lp;
		Oid			relid = InvalidOid;

		if (SplitIdentifierString(copy, '.', &parts) &&
			list_length(parts) >= 1 && list_length(parts) <= 3)
		{
			foreach(lp, parts)
				names = lappend(names, makeString((char *) lfirst(lp)));
			relid = RangeVarGetRelid(makeRangeVarFromNameList(names), NoLock, true);
		}
		if (!OidIsValid(relid))
			ereport(ERROR,
					(errcode(ERRCODE_TOMBSTONE_TOKEN_CLAIMS),
					 errmsg("table \"%s\" named in change token does not exist", name),
					 errdetail("Names in claim \"tables\" are resolved like regclass input, in the current search_path.%s",
							   presented(desc)),
					 errhint("Name the tables as the session sees them, schema-qualified if they are not on the search_path.")));
		oids = lappend_oid(oids, relid);
	}
	return oids;
}

/*
 * tombstone.authorize(token text) RETURNS jsonb
 *
 * Verify a change token, consume one of its uses and bind it to the current
 * transaction, where the guard finds it.  Returns the claims, with "uses"
 * (this one included) and "max_uses".  Every refusal has its own SQLSTATE,
 * is raised before anything changed, and says what was presented.
 */
Datum
tombstone_authorize(PG_FUNCTION_ARGS)
{
	text	   *token_text;
	char	   *token;
	int			len;
	char	   *dot1;
	char	   *dot2;
	char	   *header_raw;
	int			header_len;
	char	   *payload_raw;
	int			payload_len;
	char	   *sig_raw;
	int			sig_len;
	Jsonb	   *header;
	Jsonb	   *payload;
	JsonbValue *v;
	TokenDesc	desc;
	TokenKey	key;
	TokenClaims claims;
	char	   *alg;
	char	   *kid;
	char	   *audience;
	TimestampTz now;
	List	   *table_oids;
	int32		uses;
	int32		max_uses;
	TombstoneToken *bound;
	MemoryContext old;
	ListCell   *lc;
	int			i;
	StringInfoData extra;
	Jsonb	   *result;

	if (!tombstone_preloaded)
		TombstoneRefuseNotPreloaded("tombstone.authorize() binds a change token to the transaction for the guard, which runs only when the library is preloaded.");
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("change token must not be null"),
				 errhint("Pass the token as text: header.claims.signature.")));

	memset(&desc, 0, sizeof(desc));
	token_text = PG_GETARG_TEXT_PP(0);
	len = VARSIZE_ANY_EXHDR(token_text);
	if (len > TOMBSTONE_TOKEN_MAX_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_TOKEN_MALFORMED),
				 errmsg("change token is too long"),
				 errdetail("The token is %d bytes long; at most %d bytes are accepted.",
						   len, TOMBSTONE_TOKEN_MAX_LEN),
				 errhint("Present the token exactly as it was issued; keep the claims of a token short.")));
	token = text_to_cstring(token_text);

	/* form: three base64url parts separated by periods */
	for (i = 0; i < len; i++)
	{
		if (token[i] != '.' && b64url_value((unsigned char) token[i]) < 0)
			refuse_malformed(&desc, psprintf("Byte %d of the token is not a base64url character or a period.", i + 1));
	}
	dot1 = strchr(token, '.');
	dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	if (dot1 == NULL || dot2 == NULL || strchr(dot2 + 1, '.') != NULL ||
		dot1 == token || dot2 == dot1 + 1 || dot2[1] == '\0')
		refuse_malformed(&desc, "The token is not three non-empty parts separated by periods.");

	/* the header names the algorithm and the key */
	if (!b64url_decode(token, dot1 - token, &header_raw, &header_len))
		refuse_malformed(&desc, "The header is not valid unpadded base64url.");
	header = parse_json_object(header_raw, header_len, "header", &desc);

	v = jsonb_member(header, "alg");
	if (v == NULL || v->type != jbvString || v->val.string.len == 0)
		refuse_malformed(&desc, "The header has no \"alg\" string naming the algorithm.");
	alg = pnstrdup(v->val.string.val, v->val.string.len);
	desc.alg = alg;
	v = jsonb_member(header, "kid");
	if (v == NULL || v->type != jbvString || v->val.string.len == 0 ||
		v->val.string.len > KEY_ID_MAX_LEN)
		refuse_malformed(&desc, "The header has no \"kid\" string naming the key.");
	kid = pnstrdup(v->val.string.val, v->val.string.len);
	desc.kid = kid;
	if (jsonb_member(header, "crit") != NULL)
		refuse_malformed(&desc, "The header has a \"crit\" member, and no extension of JWS is supported.");

	if (strcmp(alg, "HS256") != 0 && strcmp(alg, "EdDSA") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_TOKEN_ALGORITHM),
				 errmsg("change token algorithm \"%s\" is not accepted", alg),
				 errdetail("Only HS256 and EdDSA (Ed25519) are accepted.%s",
						   presented(&desc)),
				 errhint("Sign the token with HS256 or EdDSA, with a key registered by tombstone.add_key().")));

	if (!b64url_decode(dot1 + 1, dot2 - dot1 - 1, &payload_raw, &payload_len))
		refuse_malformed(&desc, "The claims part is not valid unpadded base64url.");
	if (!b64url_decode(dot2 + 1, len - (dot2 + 1 - token), &sig_raw, &sig_len))
		refuse_malformed(&desc, "The signature is not valid unpadded base64url.");

	/* the key, locked until the end of the transaction */
	if (!fetch_key(kid, &key, "tombstone.authorize()"))
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_TOKEN_KEY),
				 errmsg("change token key \"%s\" does not exist", kid),
				 errdetail("No key \"%s\" is registered in this database (it may have been removed).%s",
						   kid, presented(&desc)),
				 errhint("Obtain a token signed with a current key of this database, or register the key with tombstone.add_key().")));
	if (strcmp(key.alg, alg) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_TOKEN_ALGORITHM),
				 errmsg("change token algorithm \"%s\" does not match key \"%s\"", alg, kid),
				 errdetail("Key \"%s\" is a key for %s; the token says %s.%s",
						   kid, key.alg, alg, presented(&desc)),
				 errhint("Sign the token with the algorithm of its key.")));

	if (!signature_valid(&key, token, dot2 - token, sig_raw, sig_len, token, len))
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_TOKEN_SIGNATURE),
				 errmsg("change token signature is not valid"),
				 errdetail("The signature does not match the header and claims for key \"%s\".%s",
						   kid, presented(&desc)),
				 errhint("The token was altered or signed with another key; obtain a new token.")));

	/* the claims, now known to come from the key's holder */
	payload = parse_json_object(payload_raw, payload_len, "claims part", &desc);
	read_claims(payload, &claims, &desc);

	if (!key_allows_op(&key, claims.op))
		refuse_key_op(&key, &desc);

	audience = token_audience();
	{
		bool		match = false;

		foreach(lc, claims.aud)
			if (strcmp((char *) lfirst(lc), audience) == 0)
				match = true;
		if (!match)
		{
			StringInfoData auds;

			initStringInfo(&auds);
			foreach(lc, claims.aud)
				appendStringInfo(&auds, "%s\"%s\"", auds.len ? ", " : "",
								 (char *) lfirst(lc));
			ereport(ERROR,
					(errcode(ERRCODE_TOMBSTONE_TOKEN_AUDIENCE),
					 errmsg("change token is meant for another database"),
					 errdetail("The token's audience is %s; this database accepts \"%s\".%s",
							   auds.data, audience, presented(&desc)),
					 errhint("Obtain a token whose \"aud\" is the value of tombstone.audience() in this database.")));
		}
	}

	now = GetCurrentTimestamp();
	if (claims.has_nbf && now < claims.nbf)
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_TOKEN_NOT_YET),
				 errmsg("change token is not valid yet"),
				 errdetail("The token is valid from %s on.%s",
						   timestamptz_to_str(claims.nbf), presented(&desc)),
				 errhint("Wait until then, or obtain a token valid now.")));
	if (now >= claims.exp)
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_TOKEN_EXPIRED),
				 errmsg("change token has expired"),
				 errdetail("The token expired at %s.%s",
						   timestamptz_to_str(claims.exp), presented(&desc)),
				 errhint("Obtain a new token.")));

	if (claims.role != NULL)
	{
		Oid			roleid = get_role_oid(claims.role, true);

		if (!OidIsValid(roleid) || !is_member_of_role(GetUserId(), roleid))
			ereport(ERROR,
					(errcode(ERRCODE_TOMBSTONE_TOKEN_ROLE),
					 errmsg("change token is reserved for role \"%s\"", claims.role),
					 errdetail("Only members of role \"%s\" may use the token; the current user \"%s\" is not one%s.%s",
							   claims.role, GetUserNameFromId(GetUserId(), false),
							   OidIsValid(roleid) ? "" : " (the role does not exist)",
							   presented(&desc)),
					 errhint("Use the token as a member of role \"%s\", or obtain a token for your role.",
							 claims.role)));
	}

	table_oids = resolve_tables(&claims, &desc);

	/* everything checks: consume a use */
	uses = consume_use(&claims, kid, &max_uses);
	if (uses == 0)
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_TOKEN_USED),
				 errmsg("change token has already been used"),
				 errdetail("The token allows %d use%s, and %s taken.%s",
						   max_uses, max_uses == 1 ? "" : "s",
						   max_uses == 1 ? "it was" : "all were",
						   presented(&desc)),
				 errhint("Obtain a new token; a token authorizes at most \"max_uses\" transactions.")));

	/* bind it to the transaction */
	old = MemoryContextSwitchTo(TopTransactionContext);
	bound = palloc0(sizeof(TombstoneToken));
	bound->jti = pstrdup(claims.jti);
	bound->kid = pstrdup(kid);
	bound->alg = pstrdup(alg);
	bound->op = pstrdup(claims.op);
	bound->sub = claims.sub ? pstrdup(claims.sub) : NULL;
	bound->reason = claims.reason ? pstrdup(claims.reason) : NULL;
	bound->tables = list_copy(table_oids);
	bound->tenants = NIL;
	foreach(lc, claims.tenants)
		bound->tenants = lappend(bound->tenants, pstrdup((char *) lfirst(lc)));
	bound->all_tenants = claims.all_tenants;
	bound->max_rows = claims.max_rows;
	bound->rows_used = 0;
	bound->exp = claims.exp;
	bound->subxid = GetCurrentSubTransactionId();
	bound_tokens = lappend(bound_tokens, bound);
	MemoryContextSwitchTo(old);

	/* the claims, with the count of uses */
	initStringInfo(&extra);
	appendStringInfo(&extra, "{\"uses\": %d, \"max_uses\": %d}", uses, max_uses);
	result = DatumGetJsonbP(DirectFunctionCall2(jsonb_concat,
												JsonbPGetDatum(payload),
												DirectFunctionCall1(jsonb_in,
																	CStringGetDatum(extra.data))));
	PG_RETURN_JSONB_P(result);
}

/*
 * tombstone.sign(claims jsonb, key_id text) RETURNS text
 *
 * Mint an HS256 change token with a key of this database, for members of
 * tombstone_approver (EXECUTE is granted to that role only).  Fills in
 * "iat" (now), "exp" (iat + 1 hour), "jti" (random) and "aud" (this
 * database) when absent, and refuses claims that authorize() would refuse
 * for their form.  The key is read as the catalog's owner.
 */
Datum
tombstone_sign(PG_FUNCTION_ARGS)
{
	Jsonb	   *claims_in;
	char	   *kid;
	TokenKey	key;
	TokenDesc	desc;
	TokenClaims claims;
	StringInfoData defaults;
	StringInfoData header;
	StringInfoData out;
	Jsonb	   *merged;
	char	   *payload;
	double		iat;
	JsonbValue *v;
	uint8		rnd[16];
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	int			i;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("arguments of tombstone.sign() must not be null"),
				 errhint("Pass the claims as a jsonb object and the id of an HS256 key.")));
	claims_in = PG_GETARG_JSONB_P(0);
	kid = text_to_cstring(PG_GETARG_TEXT_PP(1));
	memset(&desc, 0, sizeof(desc));
	desc.kid = kid;
	desc.alg = "HS256";

	if (!JB_ROOT_IS_OBJECT(claims_in) || JB_ROOT_IS_SCALAR(claims_in))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("claims of a change token must be a JSON object"),
				 errhint("Pass the claims as a jsonb object, such as '{\"op\": \"delete\", \"tenants\": [\"42\"]}'.")));

	if (!fetch_key(kid, &key, "tombstone.sign()"))
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_TOKEN_KEY),
				 errmsg("key \"%s\" does not exist", kid),
				 errhint("Register an HS256 key with tombstone.add_key().")));
	if (strcmp(key.alg, "HS256") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_TOKEN_ALGORITHM),
				 errmsg("key \"%s\" cannot sign change tokens", kid),
				 errdetail("Key \"%s\" is an %s public key; the private key that signs its tokens is kept outside the database.",
						   kid, key.alg),
				 errhint("Sign EdDSA tokens with pg_tombstone_token or a JWT library, or sign with an HS256 key.")));

	/* defaults, overridden by the claims given */
	iat = floor((double) GetCurrentTimestamp() / USECS_PER_SEC + UNIX_TO_PG_EPOCH_SECS);
	v = jsonb_member(claims_in, "iat");
	if (v != NULL && v->type == jbvNumeric)
	{
		double		given = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
															   NumericGetDatum(v->val.numeric)));

		/* one out of range is refused below, by read_claims() */
		if (!isnan(given) && given >= 0 && given <= NUMERIC_DATE_MAX - 3600)
			iat = given;
	}
	if (!pg_strong_random(rnd, sizeof(rnd)))
		elog(ERROR, "could not generate random jti");
	initStringInfo(&defaults);
	appendStringInfo(&defaults, "{\"iat\": %.0f, \"exp\": %.0f, \"jti\": \"",
					 iat, iat + 3600);
	for (i = 0; i < (int) sizeof(rnd); i++)
		appendStringInfo(&defaults, "%02x", rnd[i]);
	appendStringInfoString(&defaults, "\", \"aud\": ");
	escape_json(&defaults, token_audience());
	appendStringInfoChar(&defaults, '}');
	merged = DatumGetJsonbP(DirectFunctionCall2(jsonb_concat,
												DirectFunctionCall1(jsonb_in,
																	CStringGetDatum(defaults.data)),
												JsonbPGetDatum(claims_in)));

	read_claims(merged, &claims, &desc);
	if (!key_allows_op(&key, claims.op))
		refuse_key_op(&key, &desc);

	initStringInfo(&header);
	appendStringInfoString(&header, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":");
	escape_json(&header, kid);
	appendStringInfoChar(&header, '}');
	payload = JsonbToCString(NULL, &merged->root, VARSIZE(merged));

	initStringInfo(&out);
	b64url_encode((unsigned char *) header.data, header.len, &out);
	appendStringInfoChar(&out, '.');
	b64url_encode((unsigned char *) payload, strlen(payload), &out);
	if (HMAC(EVP_sha256(), VARDATA_ANY(key.key), VARSIZE_ANY_EXHDR(key.key),
			 (unsigned char *) out.data, out.len, mac, &maclen) == NULL ||
		maclen != HS256_SIG_LEN)
		elog(ERROR, "could not compute HMAC-SHA256");
	appendStringInfoChar(&out, '.');
	b64url_encode(mac, maclen, &out);
	OPENSSL_cleanse(mac, sizeof(mac));

	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}

/*
 * An Ed25519 public key given to add_key() as PEM (SubjectPublicKeyInfo),
 * as its 32 raw bytes.
 */
static bytea *
ed25519_from_pem(const char *pem, int len, const char *kid)
{
	BIO		   *bio;
	EVP_PKEY   *pkey;
	unsigned char raw[ED25519_KEY_LEN];
	size_t		rawlen = ED25519_KEY_LEN;
	bool		ok = false;
	bytea	   *result;

	bio = BIO_new_mem_buf(pem, len);
	if (bio == NULL)
		elog(ERROR, "out of memory in OpenSSL");
	pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (pkey != NULL)
	{
		ok = EVP_PKEY_get_id(pkey) == EVP_PKEY_ED25519 &&
			EVP_PKEY_get_raw_public_key(pkey, raw, &rawlen) == 1 &&
			rawlen == ED25519_KEY_LEN;
		EVP_PKEY_free(pkey);
	}
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key \"%s\" is not an Ed25519 public key", kid),
				 errdetail("The PEM text is not a SubjectPublicKeyInfo holding an Ed25519 key."),
				 errhint("Pass the 32 bytes of the raw public key (pg_tombstone_token --print-public-key) or its PEM form (openssl pkey -pubout).")));
	result = palloc(VARHDRSZ + ED25519_KEY_LEN);
	SET_VARSIZE(result, VARHDRSZ + ED25519_KEY_LEN);
	memcpy(VARDATA(result), raw, ED25519_KEY_LEN);
	return result;
}

/*
 * tombstone.add_key(key_id text, alg text, key bytea, ops text[])
 *
 * Register a key that change tokens name in "kid": an HS256 secret of at
 * least 32 bytes or an Ed25519 public key (32 raw bytes, or PEM), usable for
 * the operations in "ops" (NULL: all).  EXECUTE is revoked from PUBLIC; the
 * row is written as the owner of tombstone.keys.
 */
Datum
tombstone_add_key(PG_FUNCTION_ARGS)
{
	char	   *kid;
	char	   *alg;
	bytea	   *key;
	int			keylen;
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	Oid			save_userid;
	int			save_sec_context;
	const char *p;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("key_id, alg and key of tombstone.add_key() must not be null"),
				 errhint("Only ops may be null, meaning that the key may sign tokens of every operation.")));
	kid = text_to_cstring(PG_GETARG_TEXT_PP(0));
	alg = text_to_cstring(PG_GETARG_TEXT_PP(1));
	key = PG_GETARG_BYTEA_PP(2);
	keylen = VARSIZE_ANY_EXHDR(key);

	if (kid[0] == '\0' || strlen(kid) > KEY_ID_MAX_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key id must be 1 to %d bytes long", KEY_ID_MAX_LEN)));
	for (p = kid; *p; p++)
		if ((unsigned char) *p < 0x20 || *p == 0x7f)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("key id must not contain control characters")));

	if (strcmp(alg, "HS256") == 0)
	{
		if (keylen < HS256_MIN_SECRET)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("HS256 secret of key \"%s\" is too short", kid),
					 errdetail("The secret is %d bytes long; at least %d are required.",
							   keylen, HS256_MIN_SECRET),
					 errhint("Use 32 random bytes, such as gen_random_bytes(32) of pgcrypto or head -c 32 /dev/urandom.")));
	}
	else if (strcmp(alg, "EdDSA") == 0)
	{
		if (keylen >= 10 && memcmp(VARDATA_ANY(key), "-----BEGIN", 10) == 0)
		{
			if (keylen >= 11 && strstr(pnstrdup(VARDATA_ANY(key), keylen), "PRIVATE KEY") != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("key \"%s\" is a private key", kid),
						 errdetail("The database needs only the public key to verify EdDSA tokens."),
						 errhint("Pass the public key (pg_tombstone_token --print-public-key, or openssl pkey -pubout), and keep the private key where tokens are signed.")));
			key = ed25519_from_pem(VARDATA_ANY(key), keylen, kid);
		}
		else if (keylen != ED25519_KEY_LEN)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("Ed25519 public key of key \"%s\" must be 32 bytes long", kid),
					 errdetail("The key given is %d bytes long.", keylen),
					 errhint("Pass the 32 bytes of the raw public key (pg_tombstone_token --print-public-key) or its PEM form.")));
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("algorithm \"%s\" is not supported", alg),
				 errhint("Use HS256 or EdDSA.")));

	if (!PG_ARGISNULL(3))
	{
		Datum	   *elems;
		bool	   *enulls;
		int			nelems;
		int			i;

		deconstruct_array(PG_GETARG_ARRAYTYPE_P(3), TEXTOID, -1, false,
						  TYPALIGN_INT, &elems, &enulls, &nelems);
		if (nelems == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("ops of key \"%s\" must not be empty", kid),
					 errhint("Pass NULL to allow every operation, or list the operations allowed.")));
		for (i = 0; i < nelems; i++)
			if (enulls[i] || !is_token_op(TextDatumGetCString(elems[i])))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("\"%s\" is not an operation of change tokens",
								enulls[i] ? "NULL" : TextDatumGetCString(elems[i])),
						 errhint("Operations are %s.", token_op_list())));
		values[3] = PG_GETARG_DATUM(3);
	}
	else
		nulls[3] = 'n';

	values[0] = CStringGetTextDatum(kid);
	values[1] = CStringGetTextDatum(alg);
	values[2] = PointerGetDatum(key);
	values[4] = DirectFunctionCall1(namein,
									CStringGetDatum(GetUserNameFromId(GetUserId(), false)));

	become_catalog_owner(&save_userid, &save_sec_context);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (add_key_plan == NULL)
	{
		Oid			argtypes[5] = {TEXTOID, TEXTOID, BYTEAOID, TEXTARRAYOID, NAMEOID};

		add_key_plan = prepare_kept(TOMBSTONE_INTERNAL_QUERY
									"INSERT INTO tombstone.keys (key_id, alg, key, ops, added_at, added_by) "
									"VALUES ($1, $2, $3, $4, pg_catalog.now(), $5) "
									"ON CONFLICT (key_id) DO NOTHING",
									5, argtypes);
	}
	TombstoneOwnWriteBegin(token_catalog_relid(TOKEN_KEYS_TABLE));
	PG_TRY();
	{
		if (SPI_execute_plan(add_key_plan, values, nulls, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not insert into tombstone.keys");
	}
	PG_FINALLY();
	{
		TombstoneOwnWriteEnd();
	}
	PG_END_TRY();
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("key \"%s\" already exists", kid),
				 errhint("Remove it first with tombstone.remove_key(), or choose another key id.")));
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec_context);
	PG_RETURN_VOID();
}

/*
 * tombstone.remove_key(key_id text)
 *
 * Remove a key: tokens naming it are refused from then on.  Waits for
 * transactions that authorised a token with the key.  Uses recorded in
 * tombstone.token_uses stay, so that a key added again under the same id
 * does not make used tokens usable again.
 */
Datum
tombstone_remove_key(PG_FUNCTION_ARGS)
{
	char	   *kid;
	Datum		arg;
	Oid			save_userid;
	int			save_sec_context;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("key_id of tombstone.remove_key() must not be null")));
	kid = text_to_cstring(PG_GETARG_TEXT_PP(0));
	arg = CStringGetTextDatum(kid);

	become_catalog_owner(&save_userid, &save_sec_context);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (remove_key_plan == NULL)
	{
		Oid			argtypes[1] = {TEXTOID};

		remove_key_plan = prepare_kept(TOMBSTONE_INTERNAL_QUERY
									   "DELETE FROM tombstone.keys k "
									   "WHERE k.key_id OPERATOR(pg_catalog.=) $1",
									   1, argtypes);
	}
	TombstoneOwnWriteBegin(token_catalog_relid(TOKEN_KEYS_TABLE));
	PG_TRY();
	{
		if (SPI_execute_plan(remove_key_plan, &arg, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not delete from tombstone.keys");
	}
	PG_FINALLY();
	{
		TombstoneOwnWriteEnd();
	}
	PG_END_TRY();
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("key \"%s\" does not exist", kid)));
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec_context);
	PG_RETURN_VOID();
}

/*
 * tombstone.bound_tokens(): the change tokens bound to the current
 * transaction, oldest first.
 */
Datum
tombstone_bound_tokens(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	foreach(lc, bound_tokens)
	{
		TombstoneToken *token = (TombstoneToken *) lfirst(lc);
		Datum		values[11];
		bool		nulls[11];
		Datum	   *elems;
		ListCell   *le;
		int			n;

		memset(nulls, 0, sizeof(nulls));
		values[0] = CStringGetTextDatum(token->jti);
		values[1] = CStringGetTextDatum(token->kid);
		values[2] = CStringGetTextDatum(token->op);
		values[3] = token->sub ? CStringGetTextDatum(token->sub) : (Datum) 0;
		nulls[3] = token->sub == NULL;
		values[4] = token->reason ? CStringGetTextDatum(token->reason) : (Datum) 0;
		nulls[4] = token->reason == NULL;

		elems = palloc(sizeof(Datum) * (list_length(token->tables) + 1));
		n = 0;
		foreach(le, token->tables)
			elems[n++] = ObjectIdGetDatum(lfirst_oid(le));
		values[5] = PointerGetDatum(construct_array(elems, n, REGCLASSOID,
													sizeof(Oid), true, TYPALIGN_INT));
		elems = palloc(sizeof(Datum) * (list_length(token->tenants) + 1));
		n = 0;
		foreach(le, token->tenants)
			elems[n++] = CStringGetTextDatum((char *) lfirst(le));
		values[6] = PointerGetDatum(construct_array(elems, n, TEXTOID,
													-1, false, TYPALIGN_INT));
		values[7] = BoolGetDatum(token->all_tenants);
		values[8] = Int64GetDatum(token->max_rows);
		nulls[8] = token->max_rows < 0;
		values[9] = Int64GetDatum(token->rows_used);
		values[10] = TimestampTzGetDatum(token->exp);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
