// The system's libcrypto (OpenSSL 3), exposed to Swift as COpenSSL (DESIGN §2, decision 0001):
// crypto primitives that are not TLS. Only non-deprecated OpenSSL 3 functions are used, each
// wrapped in one small Swift file per use (today: ECDSA P-256 verification for ILP over TCP).
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
