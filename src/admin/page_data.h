/*
 * Private to src/admin: the status page's files, built into the binary by
 * cmake/embed.cmake from src/admin/page/ (each array ends with a NUL that
 * _len does not count).
 */
#ifndef ICESTATION_ADMIN_PAGE_DATA_H
#define ICESTATION_ADMIN_PAGE_DATA_H

#include <stddef.h>

extern const unsigned char admin_page_html[];
extern const size_t admin_page_html_len;
extern const unsigned char admin_page_js[];
extern const size_t admin_page_js_len;
extern const unsigned char admin_page_css[];
extern const size_t admin_page_css_len;

#endif
