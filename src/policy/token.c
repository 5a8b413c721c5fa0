/*-------------------------------------------------------------------------
 *
 * token.c
 *	  Signed change tokens: their claims, tombstone.authorize(), which binds
 *	  a verified token to the transaction, and tombstone.sign().
 *
 * A change token is a JWS in compact form (policy/jws.c), signed with HS256
 * or EdDSA by a key in tombstone.keys (policy/keys.c), which no application
 * role can read.  tombstone.authorize(token) checks the token in a fixed
 * order, each step with its own SQLSTATE (TB020..TB029): form and size,
 * header, algorithm, key, signature, claims, the key's operations, audience,
 * validity period, role, tables; only then does it consume one use of the
 * token in tombstone.token_uses and bind the token to the current
 * transaction, where the guard (policy/guard.c) and purge find it with
 * TombstoneTokensBound().  Nothing in the payload is interpreted before its
 * signature has been checked.
 *
 * Time checks are exact: a token is expired from the second named in "exp"
 * on and not valid before "nbf"; there is no allowance for clock skew.
 *
 * src/policy/token.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/genam.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_inherits.h"
#include "commands/dbcommands.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/varlena.h"

#include "foundation/errcodes.h"
#include "foundation/refuse.h"
#include "foundation/settings.h"
#include "policy/jws.h"
#include "policy/keys.h"
#include "policy/token.h"

PG_FUNCTION_INFO_V1(tombstone_audience);
PG_FUNCTION_INFO_V1(tombstone_authorize);
PG_FUNCTION_INFO_V1(tombstone_sign);
PG_FUNCTION_INFO_V1(tombstone_bound_tokens);

#define CLAIM_STRING_MAX_LEN	1024

/* Seconds from 1970-01-01 to 2000-01-01, PostgreSQL's epoch */
#define UNIX_TO_PG_EPOCH_SECS \
	((double) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY)
/* Largest NumericDate accepted: 9999-12-31 23:59:59 UTC */
#define NUMERIC_DATE_MAX		253402300799.0

/* GUC tombstone.audience: empty means the default of audience() */
static char *token_audience_setting = NULL;

/* Tokens bound to the current transaction, in TopTransactionContext */
static List *bound_tokens = NIL;

/* The default audience; a backend's database has one name for its life */
static char *default_audience = NULL;

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

static void token_xact_callback(XactEvent event, void *arg);
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

/* One decoded part of a token as a jsonb object; TB020 if it is not one */
static Jsonb *
parse_object(char *text, int len, const char *part, TokenDesc *desc)
{
	char	   *problem;
	Jsonb	   *jb = TombstoneJwsParseObject(text, len, part, &problem);

	if (jb == NULL)
		refuse_malformed(desc, problem);
	return jb;
}

/* A string claim, or NULL if absent; TB029 if not a non-empty string */
static char *
claim_string(Jsonb *jb, const char *name, TokenDesc *desc)
{
	JsonbValue *v = TombstoneJwsMember(jb, name);

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
	JsonbValue *v = TombstoneJwsMember(jb, name);
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
	if (!TombstoneJwsIsArray(v))
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
	JsonbValue *v = TombstoneJwsMember(jb, name);
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
	JsonbValue *v = TombstoneJwsMember(jb, name);
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

	v = TombstoneJwsMember(jb, "op");
	if (v == NULL)
		refuse_claim(desc, "op", NULL);
	if (v->type != jbvString)
		refuse_claim(desc, "op", psprintf("Claim \"op\" must be one of %s.", TombstoneTokenOpList()));
	claims->op = pnstrdup(v->val.string.val, v->val.string.len);
	if (!TombstoneIsTokenOp(claims->op))
		refuse_claim(desc, "op", psprintf("Operation \"%s\" is not one of %s.",
										  claims->op, TombstoneTokenOpList()));
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

static void
refuse_key_op(const TombstoneKey *key, const TokenDesc *desc) pg_attribute_noreturn();

/* TB022: the key is limited to other operations */
static void
refuse_key_op(const TombstoneKey *key, const TokenDesc *desc)
{
	StringInfoData ops;
	ListCell   *lc;

	initStringInfo(&ops);
	foreach(lc, key->ops)
		appendStringInfo(&ops, "%s%s", ops.len ? ", " : "", (char *) lfirst(lc));
	ereport(ERROR,
			(errcode(ERRCODE_TOMBSTONE_TOKEN_KEY),
			 errmsg("key \"%s\" cannot authorize operation \"%s\"", key->jws.kid, desc->op),
			 errdetail("Key \"%s\" is limited to operations %s.%s",
					   key->jws.kid, ops.len ? ops.data : "(none)", presented(desc)),
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
	TombstoneKey	key;
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
		if (token[i] != '.' && !TombstoneJwsIsBase64url((unsigned char) token[i]))
			refuse_malformed(&desc, psprintf("Byte %d of the token is not a base64url character or a period.", i + 1));
	}
	dot1 = strchr(token, '.');
	dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	if (dot1 == NULL || dot2 == NULL || strchr(dot2 + 1, '.') != NULL ||
		dot1 == token || dot2 == dot1 + 1 || dot2[1] == '\0')
		refuse_malformed(&desc, "The token is not three non-empty parts separated by periods.");

	/* the header names the algorithm and the key */
	if (!TombstoneJwsDecode(token, dot1 - token, &header_raw, &header_len))
		refuse_malformed(&desc, "The header is not valid unpadded base64url.");
	header = parse_object(header_raw, header_len, "header", &desc);

	v = TombstoneJwsMember(header, "alg");
	if (v == NULL || v->type != jbvString || v->val.string.len == 0)
		refuse_malformed(&desc, "The header has no \"alg\" string naming the algorithm.");
	alg = pnstrdup(v->val.string.val, v->val.string.len);
	desc.alg = alg;
	v = TombstoneJwsMember(header, "kid");
	if (v == NULL || v->type != jbvString || v->val.string.len == 0 ||
		v->val.string.len > TOMBSTONE_KEY_ID_MAX_LEN)
		refuse_malformed(&desc, "The header has no \"kid\" string naming the key.");
	kid = pnstrdup(v->val.string.val, v->val.string.len);
	desc.kid = kid;
	if (TombstoneJwsMember(header, "crit") != NULL)
		refuse_malformed(&desc, "The header has a \"crit\" member, and no extension of JWS is supported.");

	if (strcmp(alg, "HS256") != 0 && strcmp(alg, "EdDSA") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_TOKEN_ALGORITHM),
				 errmsg("change token algorithm \"%s\" is not accepted", alg),
				 errdetail("Only HS256 and EdDSA (Ed25519) are accepted.%s",
						   presented(&desc)),
				 errhint("Sign the token with HS256 or EdDSA, with a key registered by tombstone.add_key().")));

	if (!TombstoneJwsDecode(dot1 + 1, dot2 - dot1 - 1, &payload_raw, &payload_len))
		refuse_malformed(&desc, "The claims part is not valid unpadded base64url.");
	if (!TombstoneJwsDecode(dot2 + 1, len - (dot2 + 1 - token), &sig_raw, &sig_len))
		refuse_malformed(&desc, "The signature is not valid unpadded base64url.");

	/* the key, locked until the end of the transaction */
	if (!TombstoneKeyFetch(kid, &key, "tombstone.authorize()"))
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_TOKEN_KEY),
				 errmsg("change token key \"%s\" does not exist", kid),
				 errdetail("No key \"%s\" is registered in this database (it may have been removed).%s",
						   kid, presented(&desc)),
				 errhint("Obtain a token signed with a current key of this database, or register the key with tombstone.add_key().")));
	if (strcmp(key.jws.alg, alg) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_TOKEN_ALGORITHM),
				 errmsg("change token algorithm \"%s\" does not match key \"%s\"", alg, kid),
				 errdetail("Key \"%s\" is a key for %s; the token says %s.%s",
						   kid, key.jws.alg, alg, presented(&desc)),
				 errhint("Sign the token with the algorithm of its key.")));

	if (!TombstoneJwsVerify(&key.jws, token, dot2 - token, sig_raw, sig_len, token, len))
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_TOKEN_SIGNATURE),
				 errmsg("change token signature is not valid"),
				 errdetail("The signature does not match the header and claims for key \"%s\".%s",
						   kid, presented(&desc)),
				 errhint("The token was altered or signed with another key; obtain a new token.")));

	/* the claims, now known to come from the key's holder */
	payload = parse_object(payload_raw, payload_len, "claims part", &desc);
	read_claims(payload, &claims, &desc);

	if (!TombstoneKeyAllowsOp(&key, claims.op))
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
	uses = TombstoneKeyConsumeUse(claims.jti, kid, claims.max_uses, claims.exp,
								  &max_uses);
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
	TombstoneKey	key;
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

	if (!TombstoneKeyFetch(kid, &key, "tombstone.sign()"))
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_TOKEN_KEY),
				 errmsg("key \"%s\" does not exist", kid),
				 errhint("Register an HS256 key with tombstone.add_key().")));
	if (strcmp(key.jws.alg, "HS256") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_TOMBSTONE_TOKEN_ALGORITHM),
				 errmsg("key \"%s\" cannot sign change tokens", kid),
				 errdetail("Key \"%s\" is an %s public key; the private key that signs its tokens is kept outside the database.",
						   kid, key.jws.alg),
				 errhint("Sign EdDSA tokens with pg_tombstone_token or a JWT library, or sign with an HS256 key.")));

	/* defaults, overridden by the claims given */
	iat = floor((double) GetCurrentTimestamp() / USECS_PER_SEC + UNIX_TO_PG_EPOCH_SECS);
	v = TombstoneJwsMember(claims_in, "iat");
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
	if (!TombstoneKeyAllowsOp(&key, claims.op))
		refuse_key_op(&key, &desc);

	initStringInfo(&header);
	appendStringInfoString(&header, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":");
	escape_json(&header, kid);
	appendStringInfoChar(&header, '}');
	payload = JsonbToCString(NULL, &merged->root, VARSIZE(merged));

	initStringInfo(&out);
	TombstoneJwsEncode((unsigned char *) header.data, header.len, &out);
	appendStringInfoChar(&out, '.');
	TombstoneJwsEncode((unsigned char *) payload, strlen(payload), &out);
	TombstoneJwsAppendHS256(&out, key.jws.key);

	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
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
