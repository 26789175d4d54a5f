try:
    from suite.cli import main
except KeyboardInterrupt:  # Ctrl-C while still importing: nothing started yet
    raise SystemExit(130) from None

main()
