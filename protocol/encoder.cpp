// encoder: implementation pending.
#include "protocol/encoder.h"
