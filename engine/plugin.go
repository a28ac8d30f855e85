package engine

// Absent is the value of a column that a row image does not carry, as
// opposed to nil, SQL NULL. Row images the binary log yields carry every
// column; a handler plugin may pass on images without some (a transformer
// adding a column it does not fill, say). The JSON envelope leaves absent
// columns out.
var Absent any = absent{}

type absent struct{}
