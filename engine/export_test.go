package engine

// SetTestHookBetweenViews makes an initial snapshot open its read views one
// after the other and run f between two, until restore is called.
func SetTestHookBetweenViews(f func()) (restore func()) {
	testHookBetweenViews = f
	return func() { testHookBetweenViews = nil }
}
