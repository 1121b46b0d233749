/* What a user-defined parasite source may use: raw syscalls, the shared args area
 * and the hook for user commands. Link it into a blob with compel_add_parasite(). */
#ifndef FLAKELAB_PARASITE_H
#define FLAKELAB_PARASITE_H

#include <stddef.h>
#include <stdint.h>

#include "flakelab/compel/parasite_abi.h"
#include "syscall.h"

/* Called for every command >= FLK_CMD_USER. `payload` is the shared payload area
 * (args->payload_size bytes). Return 0 or -errno; *reply_arg goes back in msg.arg. */
int flk_parasite_user_cmd(struct flk_parasite_args* args, uint32_t cmd, uint32_t arg,
                          void* payload, uint32_t* reply_arg);

void* flk_memcpy(void* dst, const void* src, size_t n);
void* flk_memset(void* dst, int c, size_t n);
void flk_log(struct flk_parasite_args* args, const char* text);

#endif
