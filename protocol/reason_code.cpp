// reason_code: implementation pending.
#include "protocol/reason_code.h"
