/*-------------------------------------------------------------------------
 *
 * tenant.h
 *	  Tenant ids as text, filters by tenant, and the tenant registry.
 *
 * src/foundation/tenant.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOMBSTONE_TENANT_H
#define TOMBSTONE_TENANT_H

#include "lib/stringinfo.h"
#include "nodes/pg_list.h"

extern char *TombstoneTenantText(Datum value, Oid typid);
extern bool TombstoneTryInput(Oid typid, const char *str, Datum *result);
extern bool TombstoneAppendTenantFilter(StringInfo sql, const char *alias,
										Oid root, List *tenants, int paramno,
										Datum *value, Oid *type);
extern Oid	TombstoneRegistry(char **id_column);

#endif							/* TOMBSTONE_TENANT_H */
