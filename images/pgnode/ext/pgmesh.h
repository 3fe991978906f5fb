/* Shared between pgmesh.c (planner hook, write tracking) and direct.c (direct reads). */
#ifndef PGMESH_H
#define PGMESH_H

/* Has the current transaction written through a foreign table? */
extern bool pgmesh_wrote_in_xact(void);

/* GUCs and executor hooks of the direct-read path (direct.c). */
extern void pgmesh_direct_init(void);

#endif
