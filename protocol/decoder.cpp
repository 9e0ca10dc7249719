// decoder: implementation pending.
#include "protocol/decoder.h"
