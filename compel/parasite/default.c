/* The default parasite: compel's built-in commands only. */
#include "flk_parasite.h"
