/*
 * The admin router (src/admin/route.c): the self-test and status-page routes
 * it gained for issue 17, which of them need no token, and that the table
 * of fixed routes still routes the older ones.
 */
#include "admin_int.h"
#include "testutil.h"

static void
test_selftest(void)
{
	struct admin_req r;

	CHECK_EQ_INT(admin_route(ADMIN_GET, "/admin/v1/selftest", NULL, &r), 0);
	CHECK_EQ_INT(r.route, ADMIN_R_SELFTEST);
	CHECK(!admin_route_is_public(&r));
	CHECK_EQ_INT(admin_route(ADMIN_POST, "/admin/v1/selftest", NULL, &r), 405);
	CHECK_STR(r.allow, "GET");
	CHECK_EQ_INT(admin_route(ADMIN_GET, "/admin/v1/selftest", "verbose=1", &r), 400);
	CHECK_EQ_INT(admin_route(ADMIN_GET, "/admin/v1/selftest/", NULL, &r), 404);
}

static void
test_page(void)
{
	static const struct {
		const char *path;
		enum admin_page page;
	} ok[] = {
		{ "/admin", ADMIN_PAGE_HTML },
		{ "/admin/", ADMIN_PAGE_HTML },
		{ "/admin/app.js", ADMIN_PAGE_JS },
		{ "/admin/app.css", ADMIN_PAGE_CSS },
	};
	struct admin_req r;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		CHECK_EQ_INT(admin_route(ADMIN_GET, ok[i].path, NULL, &r), 0);
		CHECK_EQ_INT(r.route, ADMIN_R_PAGE);
		CHECK_EQ_INT(r.page, ok[i].page);
		CHECK(admin_route_is_public(&r));
		/* The token lives in the fragment; a query changes nothing. */
		CHECK_EQ_INT(admin_route(ADMIN_GET, ok[i].path, "x=1", &r), 0);
		CHECK_EQ_INT(admin_route(ADMIN_POST, ok[i].path, NULL, &r), 405);
		CHECK_STR(r.allow, "GET");
	}
	CHECK_EQ_INT(admin_route(ADMIN_GET, "/admin/app.json", NULL, &r), 404);
	CHECK_EQ_INT(admin_route(ADMIN_GET, "/admin/../etc/passwd", NULL, &r), 404);
	CHECK_EQ_INT(admin_route(ADMIN_GET, "/", NULL, &r), 404);
	CHECK_EQ_INT(admin_route(ADMIN_GET, NULL, NULL, &r), 404);
}

/* Every route but the page's files needs a token. */
static void
test_private(void)
{
	static const struct {
		enum admin_method m;
		const char *path;
		enum admin_route route;
	} routes[] = {
		{ ADMIN_GET, "/admin/v1/status", ADMIN_R_STATUS },
		{ ADMIN_GET, "/admin/v1/revocations", ADMIN_R_REVOCATIONS },
		{ ADMIN_POST, "/admin/v1/reload", ADMIN_R_RELOAD },
		{ ADMIN_POST, "/admin/v1/drain", ADMIN_R_DRAIN },
		{ ADMIN_GET, "/admin/v1/cluster", ADMIN_R_CLUSTER },
		{ ADMIN_GET, "/admin/v1/allocations", ADMIN_R_ALLOCS },
		{ ADMIN_DELETE, "/admin/v1/allocations/0001000000000007", ADMIN_R_KILL },
		{ ADMIN_POST, "/admin/v1/users/did%3Apeers%3Aa/revoke", ADMIN_R_REVOKE },
		{ ADMIN_DELETE, "/admin/v1/users/did:peers:a/revoke", ADMIN_R_UNREVOKE },
	};
	struct admin_req r;

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		CHECK_EQ_INT(admin_route(routes[i].m, routes[i].path, NULL, &r), 0);
		CHECK_EQ_INT(r.route, routes[i].route);
		CHECK(!admin_route_is_public(&r));
	}
	CHECK_EQ_INT(admin_route(ADMIN_GET, "/admin/v1/reload", NULL, &r), 405);
	CHECK_STR(r.allow, "POST");
}

int
main(void)
{
	test_selftest();
	test_page();
	test_private();
	TEST_DONE();
}
