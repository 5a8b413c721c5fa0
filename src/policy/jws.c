/*-------------------------------------------------------------------------
 *
 * jws.c
 *	  JSON Web Signatures in compact form: base64url, the JSON of the header
 *	  and claims, and HS256 and EdDSA (Ed25519) signatures, with OpenSSL's
 *	  libcrypto.
 *
 * A change token is a JWS in compact form, base64url(header) "."
 * base64url(payload) "." base64url(signature).  This file knows the form and
 * the cryptography, and nothing of what a token authorises: it decodes,
 * parses, verifies and signs, and reports a problem to its caller
 * (policy/token.c), which refuses with the SQLSTATE of the step that failed.
 *
 * Only the canonical encoding is accepted, JSON objects must name every
 * member once (a parser that kept the first of two "alg" members would read
 * another token than we do), and signatures are compared in constant time.
 *
 * Ed25519 verification costs about 100 us, so a backend remembers which
 * EdDSA tokens it has verified with which key (a SHA-256 of the token, and
 * of the key id, algorithm and key bytes), and keeps the OpenSSL object of
 * each public key it has used.
 *
 * src/policy/jws.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "common/jsonapi.h"
#include "nodes/pg_list.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"

#include "policy/jws.h"

/* Entries of the per-backend caches before they are emptied */
#define VERIFIED_CACHE_MAX		1024
#define PKEY_CACHE_MAX			64

/* EdDSA tokens this backend has verified: token digest -> key digest */
typedef struct VerifiedEntry
{
	uint8		token_digest[JWS_SHA256_LEN];	/* hash key */
	uint8		key_digest[JWS_SHA256_LEN];
} VerifiedEntry;

static HTAB *verified_cache = NULL;

/* Ed25519 public keys ready for OpenSSL: key digest -> EVP_PKEY */
typedef struct PkeyEntry
{
	uint8		key_digest[JWS_SHA256_LEN]; /* hash key */
	EVP_PKEY   *pkey;
} PkeyEntry;

static HTAB *pkey_cache = NULL;

/* State of the duplicate-member check while a JSON text is parsed */
typedef struct JsonCheckState
{
	int			depth;
	List	   *members;		/* names of the top-level members */
	char	   *duplicate;		/* first name seen twice */
	char	   *bad_number;		/* first number out of bounds */
} JsonCheckState;

/* ----------------------------------------------------------------
 *		base64url
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

/* Whether c is a character of the base64url alphabet */
bool
TombstoneJwsIsBase64url(unsigned char c)
{
	return b64url_value(c) >= 0;
}

/*
 * Decode unpadded base64url.  Only the canonical encoding is accepted: no
 * padding, no other characters, and the unused low bits of the last
 * character must be zero, so that each value has exactly one encoding.
 * The result is NUL-terminated (not counted in *outlen).
 */
bool
TombstoneJwsDecode(const char *in, int len, char **out, int *outlen)
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

/* Append the unpadded base64url encoding of in to out. */
void
TombstoneJwsEncode(const unsigned char *in, int len, StringInfo out)
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

/* The SHA-256 digest of data. */
void
TombstoneJwsSha256(const void *data, size_t len, uint8 *digest)
{
	unsigned int dlen = JWS_SHA256_LEN;

	if (EVP_Digest(data, len, digest, &dlen, EVP_sha256(), NULL) != 1)
		elog(ERROR, "could not compute SHA-256 digest");
}

/*
 * The identity of a key for the caches: a digest of its id, algorithm and
 * key bytes, so that a key replaced under the same id is a different key.
 */
static void
key_digest(const TombstoneJwsKey *key, uint8 *digest)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, key->kid, strlen(key->kid) + 1);
	appendBinaryStringInfo(&buf, key->alg, strlen(key->alg) + 1);
	appendBinaryStringInfo(&buf, VARDATA_ANY(key->key),
						   VARSIZE_ANY_EXHDR(key->key));
	TombstoneJwsSha256(buf.data, buf.len, digest);
	pfree(buf.data);
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
 * characters, be an object, and name no member twice.  Returns NULL with a
 * sentence in *problem for anything wrong, never the error of the JSON
 * parser.
 */
Jsonb *
TombstoneJwsParseObject(char *text, int len, const char *part, char **problem)
{
	JsonLexContext *lex;
	JsonSemAction sem;
	JsonCheckState st;
	JsonParseErrorType result;
	Jsonb	   *jb;

	*problem = NULL;
	if (memchr(text, '\0', len) != NULL ||
		!pg_verifymbstr(text, len, true))
	{
		*problem = psprintf("The %s is not valid text in the database encoding.", part);
		return NULL;
	}

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
		*problem = psprintf("The %s is not valid JSON: %s", part,
							json_errdetail(result, lex));
	else if (st.duplicate)
		*problem = psprintf("The %s names member \"%s\" more than once.",
							part, st.duplicate);
	else if (st.bad_number)
		*problem = psprintf("The %s holds number %s, which is out of range.",
							part, st.bad_number);
	if (*problem != NULL)
		return NULL;

	jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
	if (!JB_ROOT_IS_OBJECT(jb))
	{
		*problem = psprintf("The %s is not a JSON object.", part);
		return NULL;
	}
	return jb;
}

/* The member "name" of a jsonb object, or NULL */
JsonbValue *
TombstoneJwsMember(Jsonb *jb, const char *name)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) name;
	k.val.string.len = strlen(name);
	return findJsonbValueFromContainer(&jb->root, JB_FOBJECT, &k);
}

/* Whether a member's value is an array */
bool
TombstoneJwsIsArray(JsonbValue *v)
{
	return v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data) &&
		!JsonContainerIsScalar(v->val.binary.data);
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
ed25519_pkey(const TombstoneJwsKey *key, const uint8 *kdigest)
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
		ctl.keysize = JWS_SHA256_LEN;
		ctl.entrysize = sizeof(PkeyEntry);
		pkey_cache = hash_create("pg_tombstone Ed25519 keys", 16, &ctl,
								 HASH_ELEM | HASH_BLOBS);
	}

	entry = (PkeyEntry *) hash_search(pkey_cache, kdigest, HASH_FIND, NULL);
	if (entry != NULL)
		return entry->pkey;
	if (VARSIZE_ANY_EXHDR(key->key) != JWS_ED25519_KEY_LEN)
		return NULL;
	{
		EVP_PKEY   *pkey;

		pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL,
										   (const unsigned char *) VARDATA_ANY(key->key),
										   JWS_ED25519_KEY_LEN);
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
bool
TombstoneJwsVerify(const TombstoneJwsKey *key, const char *input, int inputlen,
				const char *sig, int siglen, const char *token, int tokenlen)
{
	if (strcmp(key->alg, "HS256") == 0)
	{
		unsigned char mac[EVP_MAX_MD_SIZE];
		unsigned int maclen = 0;

		if (siglen != JWS_HS256_SIG_LEN)
			return false;
		if (HMAC(EVP_sha256(), VARDATA_ANY(key->key), VARSIZE_ANY_EXHDR(key->key),
				 (const unsigned char *) input, inputlen, mac, &maclen) == NULL ||
			maclen != JWS_HS256_SIG_LEN)
			elog(ERROR, "could not compute HMAC-SHA256");
		return CRYPTO_memcmp(mac, sig, JWS_HS256_SIG_LEN) == 0;
	}
	else if (strcmp(key->alg, "EdDSA") == 0)
	{
		uint8		kdigest[JWS_SHA256_LEN];
		uint8		tdigest[JWS_SHA256_LEN];
		VerifiedEntry *entry;
		EVP_PKEY   *pkey;
		EVP_MD_CTX *ctx;
		bool		ok;

		if (siglen != JWS_ED25519_SIG_LEN)
			return false;
		key_digest(key, kdigest);
		TombstoneJwsSha256(token, tokenlen, tdigest);
		if (verified_cache != NULL)
		{
			entry = (VerifiedEntry *) hash_search(verified_cache, tdigest,
												  HASH_FIND, NULL);
			if (entry != NULL &&
				memcmp(entry->key_digest, kdigest, JWS_SHA256_LEN) == 0)
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
			ctl.keysize = JWS_SHA256_LEN;
			ctl.entrysize = sizeof(VerifiedEntry);
			verified_cache = hash_create("pg_tombstone verified tokens", 64,
										 &ctl, HASH_ELEM | HASH_BLOBS);
		}
		entry = (VerifiedEntry *) hash_search(verified_cache, tdigest,
											  HASH_ENTER, NULL);
		memcpy(entry->key_digest, kdigest, JWS_SHA256_LEN);
		return true;
	}
	return false;
}

/*
 * An Ed25519 public key given as PEM (SubjectPublicKeyInfo), as its 32 raw
 * bytes; NULL when the text holds no such key.
 */
bytea *
TombstoneJwsEd25519FromPem(const char *pem, int len)
{
	BIO		   *bio;
	EVP_PKEY   *pkey;
	unsigned char raw[JWS_ED25519_KEY_LEN];
	size_t		rawlen = JWS_ED25519_KEY_LEN;
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
			rawlen == JWS_ED25519_KEY_LEN;
		EVP_PKEY_free(pkey);
	}
	if (!ok)
		return NULL;
	result = palloc(VARHDRSZ + JWS_ED25519_KEY_LEN);
	SET_VARSIZE(result, VARHDRSZ + JWS_ED25519_KEY_LEN);
	memcpy(VARDATA(result), raw, JWS_ED25519_KEY_LEN);
	return result;
}

/*
 * Sign the header and payload in token (base64url, separated by a period)
 * with an HS256 secret, and append "." and the signature.
 */
void
TombstoneJwsAppendHS256(StringInfo token, const bytea *secret)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;

	if (HMAC(EVP_sha256(), VARDATA_ANY(secret), VARSIZE_ANY_EXHDR(secret),
			 (unsigned char *) token->data, token->len, mac, &maclen) == NULL ||
		maclen != JWS_HS256_SIG_LEN)
		elog(ERROR, "could not compute HMAC-SHA256");
	appendStringInfoChar(token, '.');
	TombstoneJwsEncode(mac, maclen, token);
	OPENSSL_cleanse(mac, sizeof(mac));
}
