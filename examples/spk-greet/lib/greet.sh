# libgreet: greet STYLE WORDS...
greet() {
    style=$1
    shift
    if [ "$style" = loud ]; then
        echo "$*" | tr '[:lower:]' '[:upper:]'
    else
        echo "$*"
    fi
}
