/* Parasite for compel/infect: increments/decrements a number and writes the result
 * to the victim's standard output, as the victim itself would. */
#include "flk_parasite.h"
#include "infect_parasite.h"

int flk_parasite_user_cmd(struct flk_parasite_args* args, uint32_t cmd, uint32_t arg, void* payload,
                          uint32_t* reply_arg) {
  (void)args;
  (void)payload;
  uint32_t v;
  if (cmd == FLK_INFECT_CMD_INC)
    v = arg + 1;
  else if (cmd == FLK_INFECT_CMD_DEC)
    v = arg - 1;
  else
    return -22; /* EINVAL */
  long n = flk_sys3(FLK_NR_write, 1, &v, sizeof(v));
  if (n < 0) return (int)n;
  if (n != sizeof(v)) return -5; /* EIO */
  *reply_arg = v;
  return 0;
}
