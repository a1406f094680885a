package netns

import (
	"time"
	"unsafe"
)

var aLongTimeAgo = time.Unix(1, 0)

func unsafePointer(b []byte) unsafe.Pointer { return unsafe.Pointer(&b[0]) }
