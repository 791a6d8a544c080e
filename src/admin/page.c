/*
 * The status page (GET /admin/): one HTML page, its script and its style
 * sheet, built into the binary (cmake/embed.cmake). Nothing is loaded from
 * anywhere else, and the Content-Security-Policy says so to the browser:
 * scripts, styles and API calls from this listener only, no frames, no
 * forms. The page holds no data; it calls the admin API with the token the
 * operator gives it (docs/operations.md, "Status page").
 */
#include <event2/buffer.h>
#include <event2/http.h>

#include "admin_srv.h"
#include "page_data.h"

static const char csp[] = "default-src 'none'; script-src 'self'; style-src 'self'; "
			  "connect-src 'self'; img-src 'self'; base-uri 'none'; "
			  "form-action 'none'; frame-ancestors 'none'";

void
admin_page_reply(struct evhttp_request *req, enum admin_page page)
{
	static const struct {
		const unsigned char *data;
		const size_t *len;
		const char *type;
	} files[] = {
		[ADMIN_PAGE_HTML] = { admin_page_html, &admin_page_html_len,
		                      "text/html; charset=utf-8" },
		[ADMIN_PAGE_JS] = { admin_page_js, &admin_page_js_len,
		                    "text/javascript; charset=utf-8" },
		[ADMIN_PAGE_CSS] = { admin_page_css, &admin_page_css_len,
		                     "text/css; charset=utf-8" },
	};
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", files[page].type);
	evhttp_add_header(h, "Cache-Control", "no-cache");
	evhttp_add_header(h, "Content-Security-Policy", csp);
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evbuffer_add_reference(evhttp_request_get_output_buffer(req), files[page].data,
	                       *files[page].len, NULL, NULL);
	evhttp_send_reply(req, 200, "OK", NULL);
}
