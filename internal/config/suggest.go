package config

// Suggest returns the name in known nearest to got, a misspelt key or
// name, when it is near enough to be what the user meant: at most one
// edit (insertion, deletion, substitution or swap of neighbours) for
// names of up to five characters, two up to eleven and three beyond.
// ok is false when nothing is that near.
func Suggest(got string, known []string) (name string, ok bool) {
	limit := 1
	switch n := len(got); {
	case n > 11:
		limit = 3
	case n > 5:
		limit = 2
	}
	best := limit + 1
	for _, k := range known {
		if d := distance(got, k); d < best {
			name, best = k, d
		}
	}
	return name, best <= limit
}

// distance is the optimal string alignment distance between a and b:
// the fewest insertions, deletions, substitutions and swaps of adjacent
// bytes that turn one into the other. Keys and built-in names are ASCII.
func distance(a, b string) int {
	// rows[i%3] is row i of the usual dynamic programme.
	var rows [3][]int
	for i := range rows {
		rows[i] = make([]int, len(b)+1)
	}
	for j := range rows[0] {
		rows[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur, prev, prev2 := rows[i%3], rows[(i-1)%3], rows[(i+1)%3]
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
	}
	return rows[len(a)%3][len(b)]
}
