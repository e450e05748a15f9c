# Medians and ratios for the POSIX sh benchmark halves (sourced).

# median COLUMN FILE: the median of a column of numbers ("n/a" entries left
# out; "n/a" when none is left; the mean of the middle two, truncated).
median() {
	awk -v c="$1" '$c != "n/a" { print $c }' "$2" | sort -n |
		awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a";
			else if (NR % 2) print v[(NR + 1) / 2];
			else printf "%d\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ratio A B: A/B with two decimals, "n/a" when either is n/a or B is 0.
ratio() {
	case "$1$2" in
	*n/a*) echo n/a ;;
	*) awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f\n", a / b; else print "n/a" }' ;;
	esac
}
