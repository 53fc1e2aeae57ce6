# Helpers shared by the measuring scripts (study.sh, recipes.sh); source it
# after setting TIMES, the times.tsv that timed appends to.

json() { # json FILE CMD...: runs CMD, writing its stdout to FILE only when it succeeds
  local file=$1; shift
  "$@" >"$file.tmp" && mv "$file.tmp" "$file"
}

timed() { # timed NAME CMD...: runs CMD, appends "NAME<TAB>seconds<TAB>CMD" to $TIMES
  local name=$1; shift
  local t0; t0=$(date +%s)
  "$@"
  echo -e "$name\t$(( $(date +%s) - t0 ))\t$*" >>"$TIMES"
}
