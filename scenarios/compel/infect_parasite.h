/* User commands of the compel/infect parasite (shared by C parasite and C++ side). */
#ifndef FLAKELAB_SCENARIOS_INFECT_PARASITE_H
#define FLAKELAB_SCENARIOS_INFECT_PARASITE_H

#include "flakelab/compel/parasite_abi.h"

/* Each writes arg+1 (or arg-1) as 4 bytes to the victim's fd 1 and replies with it. */
#define FLK_INFECT_CMD_INC (FLK_CMD_USER + 0)
#define FLK_INFECT_CMD_DEC (FLK_CMD_USER + 1)

#endif
