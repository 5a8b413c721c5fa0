/*-------------------------------------------------------------------------
 *
 * settings.h
 *	  Whether the library was preloaded, and the GUC tombstone.visibility.
 *
 * src/foundation/settings.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOMBSTONE_SETTINGS_H
#define TOMBSTONE_SETTINGS_H

/* Values of tombstone.visibility */
typedef enum TombstoneVisibility
{
	TOMBSTONE_VISIBILITY_LIVE,
	TOMBSTONE_VISIBILITY_ALL,
	TOMBSTONE_VISIBILITY_DELETED
} TombstoneVisibility;

/* true when _PG_init ran from shared_preload_libraries */
extern bool tombstone_preloaded;

/* GUC tombstone.visibility */
extern int	tombstone_visibility;

extern void TombstoneSettingsInit(void);

#endif							/* TOMBSTONE_SETTINGS_H */
