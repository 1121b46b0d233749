#include "flakelab/compel/parasite_blob.h"

FLK_DECLARE_PARASITE_BLOB(compel_default_parasite);

namespace flakelab::compel {

ParasiteBlob default_parasite_blob() { return FLK_PARASITE_BLOB(compel_default_parasite); }

}  // namespace flakelab::compel
