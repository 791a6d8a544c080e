/*
 * The TLS certificate check: the certificate the TLS listener presented to
 * the self-test (or, when it presented none, the tls.cert file), its
 * validity dates, and whether its names cover how clients reach the server.
 * The configuration has no tls.server-name yet, so the names checked are
 * the realm (as a host name: what turns: URLs will carry) and the TURN
 * public address (an IP SAN: what they carry today, as IP literals); one of
 * the two must match. Expiring within 14 days is a warning, as the
 * Prometheus alert on icestation_tls_cert_expiry_timestamp_seconds.
 */
#include <sys/socket.h>

#include <arpa/inet.h>

#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "st_int.h"

enum {
	CERT_WARN_DAYS = 14
};

/* The subjectAltName DNS and IP entries (or the CN when there are none). */
static void
cert_names(X509 *x, char *buf, size_t cap)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	char ip[INET6_ADDRSTRLEN];

	buf[0] = '\0';
	for (int i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		int type;
		const ASN1_STRING *s = GENERAL_NAME_get0_value(g, &type);
		int len = ASN1_STRING_length(s);
		const unsigned char *d = ASN1_STRING_get0_data(s);

		if (type == GEN_DNS)
			st_appendf(buf, cap, "%s%.*s", *buf ? ", " : "", len, (const char *)d);
		else if (type == GEN_IPADD && (len == 4 || len == 16) &&
		         inet_ntop(len == 4 ? AF_INET : AF_INET6, d, ip, sizeof(ip)) != NULL)
			st_appendf(buf, cap, "%s%s", *buf ? ", " : "", ip);
	}
	GENERAL_NAMES_free(gens);
	if (*buf == '\0')
		X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, buf, (int)cap);
	if (*buf == '\0')
		snprintf(buf, cap, "no name at all");
}

static time_t
asn1_time(const ASN1_TIME *a)
{
	struct tm tm;

	if (a == NULL || ASN1_TIME_to_tm(a, &tm) != 1)
		return 0;
	return timegm(&tm);
}

static X509 *
cert_from_file(const char *path)
{
	BIO *b = path != NULL ? BIO_new_file(path, "r") : NULL;
	X509 *x = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

	BIO_free(b);
	ERR_clear_error();
	return x;
}

/* Whether x names the realm (a host name) or the public address (an IP SAN). */
static bool
cert_covers(X509 *x, const struct ice_config_turn *tc, const struct ice_addr *pub, char *how,
            size_t cap)
{
	char a[ICE_ADDR_STRLEN];
	bool host = tc->realm != NULL && X509_check_host(x, tc->realm, 0, 0, NULL) == 1;
	bool ip =
		pub->family != 0 && X509_check_ip(x, pub->ip, (size_t)ice_addr_iplen(pub), 0) == 1;

	if (host && ip)
		snprintf(how, cap, "the realm %s and the public address %s", tc->realm,
		         ice_addr_ip_str(pub, a, sizeof(a)));
	else if (host || ip)
		snprintf(how, cap, "%s %s", host ? "the realm" : "the public address",
		         host ? tc->realm : ice_addr_ip_str(pub, a, sizeof(a)));
	else
		snprintf(how, cap, "neither the realm %s nor the public address %s",
		         tc->realm ? tc->realm : "(none)", ice_addr_ip_str(pub, a, sizeof(a)));
	ERR_clear_error();
	return host || ip;
}

void
st_check_cert(struct ice_selftest *t)
{
	const struct ice_config_turn *tc = &t->cfg->turn;
	X509 *x = t->tls_cert != NULL ? X509_dup(t->tls_cert) : cert_from_file(tc->tls.cert);
	const char *src = t->tls_cert != NULL ? "the certificate the TLS listener presents"
	                                      : "tls.cert (the TLS listener presented none)";
	char names[ST_DETAIL_MAX / 2], how[ST_DETAIL_MAX / 2], when[40];
	time_t now = time(NULL), nb, na;
	struct tm tm;
	enum st_status st;
	bool covers;

	if (!tc->enabled || !tc->tls.enabled)
		return;
	if (x == NULL) {
		st_check_add(t, "tls_certificate", ST_FAIL,
		             "no certificate to check: the TLS listener presented none and %s does "
		             "not parse as PEM",
		             tc->tls.cert ? tc->tls.cert : "tls.cert");
		return;
	}
	cert_names(x, names, sizeof(names));
	covers = cert_covers(x, tc, &t->env.turn_public, how, sizeof(how));
	nb = asn1_time(X509_get0_notBefore(x));
	na = asn1_time(X509_get0_notAfter(x));
	gmtime_r(&na, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	X509_free(x);
	if (now < nb)
		st_check_add(
			t, "tls_certificate", ST_FAIL,
			"%s (%s) is not valid yet: it starts %lld s from now (a wrong clock, or "
			"a certificate issued for later)",
			src, names, (long long)(nb - now));
	else if (now >= na)
		st_check_add(t, "tls_certificate", ST_FAIL,
		             "%s (%s) expired on %s: TLS clients refuse it. Renew it and reload "
		             "(docs/operations.md, Certificates)",
		             src, names, when);
	else if (!covers)
		st_check_add(
			t, "tls_certificate", ST_FAIL,
			"%s is for %s, %s: clients that check the name (browsers, libwebrtc "
			"with turns:) refuse it. Get a certificate for the realm or the public "
			"address",
			src, names, how);
	else {
		st = na - now < (time_t)CERT_WARN_DAYS * 86400 ? ST_WARN : ST_OK;
		st_check_add(t, "tls_certificate", st,
		             "%s names %s, covering %s; it expires %s, in %lld day(s)%s", src,
		             names, how, when, (long long)((na - now) / 86400),
		             st == ST_WARN ? ": renew it now" : "");
	}
}
