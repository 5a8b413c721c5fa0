/*-------------------------------------------------------------------------
 *
 * jws.h
 *	  JSON Web Signatures in compact form: encoding, parsing, HS256 and
 *	  EdDSA signatures.
 *
 * src/policy/jws.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOMBSTONE_JWS_H
#define TOMBSTONE_JWS_H

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#define JWS_SHA256_LEN			32
#define JWS_HS256_SIG_LEN		32
#define JWS_ED25519_KEY_LEN		32
#define JWS_ED25519_SIG_LEN		64

/* A key that verifies signatures: its id, algorithm and bytes */
typedef struct TombstoneJwsKey
{
	char	   *kid;
	char	   *alg;			/* "HS256" or "EdDSA" */
	bytea	   *key;			/* HS256 secret, or Ed25519 public key */
} TombstoneJwsKey;

extern bool TombstoneJwsIsBase64url(unsigned char c);
extern bool TombstoneJwsDecode(const char *in, int len, char **out, int *outlen);
extern void TombstoneJwsEncode(const unsigned char *in, int len, StringInfo out);
extern void TombstoneJwsSha256(const void *data, size_t len, uint8 *digest);
extern Jsonb *TombstoneJwsParseObject(char *text, int len, const char *part,
									  char **problem);
extern JsonbValue *TombstoneJwsMember(Jsonb *jb, const char *name);
extern bool TombstoneJwsIsArray(JsonbValue *v);
extern bool TombstoneJwsVerify(const TombstoneJwsKey *key, const char *input,
							   int inputlen, const char *sig, int siglen,
							   const char *token, int tokenlen);
extern void TombstoneJwsAppendHS256(StringInfo token, const bytea *secret);
extern bytea *TombstoneJwsEd25519FromPem(const char *pem, int len);

#endif							/* TOMBSTONE_JWS_H */
