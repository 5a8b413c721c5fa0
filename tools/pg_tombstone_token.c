/*-------------------------------------------------------------------------
 *
 * pg_tombstone_token.c
 *	  Mint a pg_tombstone change token (a JWS in compact form) outside the
 *	  database.
 *
 *	  pg_tombstone_token --key-file FILE --kid KID --alg HS256|EdDSA \
 *	      --claims '{"op": "delete", "aud": "...", "exp": ..., "jti": "..."}'
 *	  pg_tombstone_token --key-file FILE --alg EdDSA --print-public-key
 *
 * For HS256 the key file holds the secret, every byte of it (no trailing
 * newline is removed); for EdDSA it holds an Ed25519 private key in PEM, as
 * "openssl genpkey -algorithm ed25519" writes it.  --print-public-key prints
 * the raw public key in hex, for tombstone.add_key(kid, 'EdDSA',
 * '\x<hex>').
 *
 * The claims are signed exactly as given: the tool checks only that they
 * look like a JSON object and fills in nothing, so that what is signed is
 * what the caller wrote.  The database checks everything else when the
 * token is presented.  The header is {"alg":...,"typ":"JWT","kid":...};
 * key ids with characters that would need escaping in JSON are refused.
 *
 * Only libcrypto is needed.
 *
 * tools/pg_tombstone_token.c
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#define MAX_KEY_FILE	65536
#define MAX_CLAIMS		8192

static const char *progname = "pg_tombstone_token";

static void
usage(FILE *out)
{
	fprintf(out,
			"%s mints a pg_tombstone change token.\n\n"
			"Usage:\n"
			"  %s --key-file FILE --kid KID --alg HS256|EdDSA --claims JSON\n"
			"  %s --key-file FILE --alg EdDSA --print-public-key\n\n"
			"Options:\n"
			"  --key-file FILE      HS256: the secret (all bytes of the file);\n"
			"                       EdDSA: an Ed25519 private key in PEM\n"
			"  --kid KID            the key id registered with tombstone.add_key()\n"
			"  --alg ALG            HS256 or EdDSA\n"
			"  --claims JSON        the claims, a JSON object, signed as given\n"
			"  --print-public-key   print the raw Ed25519 public key in hex\n"
			"  --help               show this help\n",
			progname, progname, progname);
}

static void
fail(const char *msg, const char *arg)
{
	if (arg)
		fprintf(stderr, "%s: %s: %s\n", progname, msg, arg);
	else
		fprintf(stderr, "%s: %s\n", progname, msg);
	exit(1);
}

/* Read a whole file of at most MAX_KEY_FILE bytes */
static unsigned char *
read_file(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	unsigned char *buf;
	size_t		n;

	if (f == NULL)
	{
		fprintf(stderr, "%s: could not open key file \"%s\": %s\n",
				progname, path, strerror(errno));
		exit(1);
	}
	buf = malloc(MAX_KEY_FILE + 1);
	if (buf == NULL)
		fail("out of memory", NULL);
	n = fread(buf, 1, MAX_KEY_FILE + 1, f);
	if (ferror(f))
		fail("could not read key file", path);
	fclose(f);
	if (n > MAX_KEY_FILE)
		fail("key file is too large", path);
	*len = n;
	return buf;
}

/* Unpadded base64url of "in", into a new string */
static char *
b64url(const unsigned char *in, size_t len)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char	   *out = malloc(len * 4 / 3 + 4);
	size_t		n = 0;
	unsigned long acc = 0;
	int			bits = 0;
	size_t		i;

	if (out == NULL)
		fail("out of memory", NULL);
	for (i = 0; i < len; i++)
	{
		acc = ((acc << 8) | in[i]) & 0xFFFFFF;
		bits += 8;
		while (bits >= 6)
		{
			bits -= 6;
			out[n++] = alphabet[(acc >> bits) & 0x3F];
		}
	}
	if (bits > 0)
		out[n++] = alphabet[(acc << (6 - bits)) & 0x3F];
	out[n] = '\0';
	return out;
}

static EVP_PKEY *
read_ed25519_private_key(const unsigned char *pem, size_t len)
{
	BIO		   *bio = BIO_new_mem_buf(pem, (int) len);
	EVP_PKEY   *pkey;

	if (bio == NULL)
		fail("out of memory", NULL);
	pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (pkey == NULL || EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519)
		fail("key file does not hold an Ed25519 private key in PEM", NULL);
	return pkey;
}

/* A key id that can be written into the JSON header without escaping */
static void
check_kid(const char *kid)
{
	const char *p;

	if (*kid == '\0' || strlen(kid) > 200)
		fail("key id must be 1 to 200 characters long", NULL);
	for (p = kid; *p; p++)
		if (!isprint((unsigned char) *p) || *p == '"' || *p == '\\')
			fail("key id must be printable ASCII without quotes or backslashes", kid);
}

/* Claims must at least look like a JSON object */
static void
check_claims(const char *claims)
{
	const char *start = claims;
	const char *end = claims + strlen(claims);

	if (end - start > MAX_CLAIMS)
		fail("claims are too long", NULL);
	while (*start && isspace((unsigned char) *start))
		start++;
	while (end > start && isspace((unsigned char) end[-1]))
		end--;
	if (*start != '{' || end == start || end[-1] != '}')
		fail("claims must be a JSON object, such as {\"op\": \"delete\", ...}", NULL);
}

int
main(int argc, char **argv)
{
	const char *key_file = NULL;
	const char *kid = NULL;
	const char *alg = NULL;
	const char *claims = NULL;
	int			print_public = 0;
	unsigned char *key;
	size_t		keylen;
	char	   *header;
	char	   *h64;
	char	   *c64;
	char	   *input;
	char	   *s64;
	unsigned char sig[EVP_MAX_MD_SIZE > 64 ? EVP_MAX_MD_SIZE : 64];
	size_t		siglen = 0;
	int			i;

	for (i = 1; i < argc; i++)
	{
		const char *a = argv[i];

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
		{
			usage(stdout);
			return 0;
		}
		else if (strcmp(a, "--print-public-key") == 0)
			print_public = 1;
		else if (i + 1 < argc && strcmp(a, "--key-file") == 0)
			key_file = argv[++i];
		else if (i + 1 < argc && strcmp(a, "--kid") == 0)
			kid = argv[++i];
		else if (i + 1 < argc && strcmp(a, "--alg") == 0)
			alg = argv[++i];
		else if (i + 1 < argc && strcmp(a, "--claims") == 0)
			claims = argv[++i];
		else
		{
			fprintf(stderr, "%s: unknown or incomplete option \"%s\"\n", progname, a);
			usage(stderr);
			return 1;
		}
	}
	if (key_file == NULL || alg == NULL)
	{
		usage(stderr);
		return 1;
	}
	if (strcmp(alg, "HS256") != 0 && strcmp(alg, "EdDSA") != 0)
		fail("algorithm must be HS256 or EdDSA", alg);

	key = read_file(key_file, &keylen);

	if (print_public)
	{
		EVP_PKEY   *pkey;
		unsigned char raw[32];
		size_t		rawlen = sizeof(raw);

		if (strcmp(alg, "EdDSA") != 0)
			fail("--print-public-key needs --alg EdDSA", NULL);
		pkey = read_ed25519_private_key(key, keylen);
		if (EVP_PKEY_get_raw_public_key(pkey, raw, &rawlen) != 1 || rawlen != 32)
			fail("could not extract the public key", NULL);
		for (i = 0; i < 32; i++)
			printf("%02x", raw[i]);
		printf("\n");
		EVP_PKEY_free(pkey);
		OPENSSL_cleanse(key, keylen);
		return 0;
	}

	if (kid == NULL || claims == NULL)
	{
		usage(stderr);
		return 1;
	}
	check_kid(kid);
	check_claims(claims);

	header = malloc(strlen(kid) + 64);
	if (header == NULL)
		fail("out of memory", NULL);
	sprintf(header, "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}", alg, kid);
	h64 = b64url((const unsigned char *) header, strlen(header));
	c64 = b64url((const unsigned char *) claims, strlen(claims));
	input = malloc(strlen(h64) + strlen(c64) + 2);
	if (input == NULL)
		fail("out of memory", NULL);
	sprintf(input, "%s.%s", h64, c64);

	if (strcmp(alg, "HS256") == 0)
	{
		unsigned int maclen = 0;

		if (keylen < 32)
			fail("HS256 secret must be at least 32 bytes long", key_file);
		if (HMAC(EVP_sha256(), key, (int) keylen, (const unsigned char *) input,
				 strlen(input), sig, &maclen) == NULL)
			fail("could not compute HMAC-SHA256", NULL);
		siglen = maclen;
	}
	else
	{
		EVP_PKEY   *pkey = read_ed25519_private_key(key, keylen);
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();

		siglen = 64;
		if (ctx == NULL ||
			EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey) != 1 ||
			EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *) input,
						   strlen(input)) != 1)
			fail("could not sign with Ed25519", NULL);
		EVP_MD_CTX_free(ctx);
		EVP_PKEY_free(pkey);
	}
	OPENSSL_cleanse(key, keylen);

	s64 = b64url(sig, siglen);
	printf("%s.%s\n", input, s64);
	return 0;
}
