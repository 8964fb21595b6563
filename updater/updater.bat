@echo off
rem hive-worker updater (Windows).
rem
rem Started detached through cmd.exe by the worker, from the NEW release, after the release was
rem verified. Its inputs come as environment variables (src/update/handoff.ts), never as text on a
rem command line, so any folder name works (spaces, & %% ^ ! ( ), non-ASCII letters):
rem   HIVE_UPDATER_PID             the old worker's pid
rem   HIVE_UPDATER_TARGET          the installed worker.exe
rem   HIVE_UPDATER_NEW             the new worker.exe
rem   HIVE_UPDATER_DATA            the data folder
rem   HIVE_UPDATER_VERSION         the new version
rem   HIVE_UPDATER_HEALTH_TIMEOUT  seconds the new version has to report healthy (default 60)
rem Workers before 1.1 passed them as arguments instead, in that order:
rem   updater.bat <old pid> <installed worker.exe> <new worker.exe> <data dir> <new version> <health timeout s>
rem The same plan as updater.sh: wait for the old worker to exit, swap worker.exe
rem (keeping exactly one backup, worker.old.exe; a running .exe can be renamed but not deleted),
rem start the new one, wait for <data>\update\healthy to hold the new version, otherwise stop it,
rem restore the backup, write <data>\update\failed-<version> and start the old one again.
rem Every step goes to <data>\logs\updater.log.
rem
rem How a path stays plain text here: it is expanded once, as "%VAR%" inside quotes (& ^ ( ) are
rem then literal, and an expanded value is never expanded again), with delayed expansion off (!
rem is literal). It is never passed to CALL, which would expand %% a second time and double ^:
rem subroutines read their inputs from variables (MSG, FROM, TO), and :log and :give_up print
rem MSG with delayed expansion, which inserts the text after the line was parsed.
rem
rem Nothing read from a file is run or expanded into a command: a pid must be a number (:digits)
rem and run worker.exe's image before taskkill gets it; the health marker is compared with delayed
rem expansion, which never parses the text it inserts.
setlocal EnableExtensions DisableDelayedExpansion

if defined HIVE_UPDATER_TARGET goto have_inputs
set "HIVE_UPDATER_PID=%~1"
set "HIVE_UPDATER_TARGET=%~2"
set "HIVE_UPDATER_NEW=%~3"
set "HIVE_UPDATER_DATA=%~4"
set "HIVE_UPDATER_VERSION=%~5"
set "HIVE_UPDATER_HEALTH_TIMEOUT=%~6"
:have_inputs
rem Numbers are checked before they are ever expanded (%%VAR%% text is parsed as part of the line).
if not defined HIVE_UPDATER_HEALTH_TIMEOUT set "HIVE_UPDATER_HEALTH_TIMEOUT=60"
set "CHECK=HIVE_UPDATER_PID"
call :digits
if errorlevel 1 exit /b 2
set "CHECK=HIVE_UPDATER_HEALTH_TIMEOUT"
call :digits
if errorlevel 1 exit /b 2
set "OLD_PID=%HIVE_UPDATER_PID%"
set "TARGET=%HIVE_UPDATER_TARGET%"
set "NEW=%HIVE_UPDATER_NEW%"
set "DATA=%HIVE_UPDATER_DATA%"
set "VERSION=%HIVE_UPDATER_VERSION%"
set "HEALTH_TIMEOUT=%HIVE_UPDATER_HEALTH_TIMEOUT%"
rem The workers this script starts must not see them.
for %%v in (PID TARGET NEW DATA VERSION HEALTH_TIMEOUT SUPERVISOR SCRIPT) do set "HIVE_UPDATER_%%v="

set "UPDATE_DIR=%DATA%\update"
set "LOG=%DATA%\logs\updater.log"
rem worker.old.exe beside worker.exe, and the folder without its trailing backslash (start /d
rem "C:\dir\" fails with "Invalid name"). A FOR variable is substituted after the line is parsed.
for %%F in ("%TARGET%") do (
  set "BACKUP=%%~dpnF.old%%~xF"
  set "INSTALL_DIR=%%~dpF"
  set "IMAGE=%%~nxF"
)
set "INSTALL_DIR=%INSTALL_DIR:~0,-1%"
if not exist "%DATA%\logs" mkdir "%DATA%\logs"
if not exist "%UPDATE_DIR%" mkdir "%UPDATE_DIR%"

set "MSG=installing %VERSION% into %TARGET% (waiting for pid %OLD_PID% to exit)"
call :log
set /a WAITED=0
:wait_old
tasklist /FI "PID eq %OLD_PID%" /NH 2>nul | find " %OLD_PID% " >nul
if errorlevel 1 goto old_gone
set /a WAITED+=1
if %WAITED% geq 120 (
  set "MSG=the old worker (pid %OLD_PID%) did not exit within 120 s; nothing was changed"
  call :give_up
  exit /b 1
)
call :sleep 1
goto wait_old
:old_gone
set "MSG=old worker exited"
call :log

copy /y /b "%NEW%" "%TARGET%.new" >nul 2>>"%LOG%"
if errorlevel 1 (
  del /f /q "%TARGET%.new" >nul 2>&1
  set "MSG=could not copy the new executable next to %TARGET% (disk full?)"
  call :give_up
  call :start_worker
  exit /b 1
)
if exist "%BACKUP%" del /f /q "%BACKUP%" >nul 2>&1
set "FROM=%TARGET%"
set "TO=%BACKUP%"
call :retry_move
if errorlevel 1 (
  del /f /q "%TARGET%.new" >nul 2>&1
  set "MSG=could not move %TARGET% aside"
  call :give_up
  call :start_worker
  exit /b 1
)
set "FROM=%TARGET%.new"
set "TO=%TARGET%"
call :retry_move
if errorlevel 1 (
  set "FROM=%BACKUP%"
  set "TO=%TARGET%"
  call :retry_move
  set "MSG=could not move the new executable into place"
  call :give_up
  call :start_worker
  exit /b 1
)
set "MSG=swapped: %TARGET% is %VERSION%, the previous one is %BACKUP%"
call :log

if exist "%UPDATE_DIR%\healthy" del /f /q "%UPDATE_DIR%\healthy" >nul 2>&1
call :start_worker

set /a WAITED=0
:wait_healthy
set "HEALTHY="
if exist "%UPDATE_DIR%\healthy" set /p HEALTHY=<"%UPDATE_DIR%\healthy"
rem The marker's text only ever inside delayed expansion: never parsed as part of a command.
set "IS_HEALTHY="
setlocal EnableDelayedExpansion
if "!HEALTHY!"=="!VERSION!" set "IS_HEALTHY=1"
endlocal & set "IS_HEALTHY=%IS_HEALTHY%"
if defined IS_HEALTHY (
  set "MSG=%VERSION% is healthy; update done"
  call :log
  exit /b 0
)
set /a WAITED+=1
if %WAITED% geq %HEALTH_TIMEOUT% goto roll_back
call :sleep 1
goto wait_healthy

:roll_back
set "NEW_PID="
rem usebackq reads the file itself: a command in ('...') would go through a second cmd.exe.
if exist "%DATA%\worker.lock" for /f "usebackq tokens=2 delims=:," %%p in ("%DATA%\worker.lock") do if not defined NEW_PID set "NEW_PID=%%p"
set "CHECK=NEW_PID"
call :digits
if errorlevel 1 set "NEW_PID="
rem Only a process running worker.exe's image: a pid the lock names may belong to another program.
if defined NEW_PID (
  tasklist /FI "PID eq %NEW_PID%" /FI "IMAGENAME eq %IMAGE%" /NH 2>nul | find " %NEW_PID% " >nul
  if errorlevel 1 set "NEW_PID="
)
if defined NEW_PID taskkill /F /PID %NEW_PID% >nul 2>&1
call :sleep 2
if exist "%DATA%\worker.lock" del /f /q "%DATA%\worker.lock" >nul 2>&1
set "FROM=%TARGET%"
set "TO=%TARGET%.failed"
call :retry_move
set "FROM=%BACKUP%"
set "TO=%TARGET%"
call :retry_move
if errorlevel 1 (
  set "MSG=%VERSION% did not report healthy within %HEALTH_TIMEOUT% s; AND the backup could not be restored: %BACKUP% is the previous version"
) else (
  del /f /q "%TARGET%.failed" >nul 2>&1
  set "MSG=%VERSION% did not report healthy within %HEALTH_TIMEOUT% s; rolled back to the previous version"
)
call :give_up
call :start_worker
exit /b 1

rem ---- helpers: inputs in variables, never in CALL arguments (see the top) ----------------

:digits
rem errorlevel 0 when the variable CHECK names holds a decimal number (digits, no leading zero)
rem and nothing else. Its value is read with delayed expansion only, never parsed as a command:
rem SET /A turns it into a number (text that is not one becomes 0 or an error), and the number
rem must read back as the same text. (Wine's cmd mishandles !VAR:~n! and !VAR:%%d=!: not those.)
setlocal EnableDelayedExpansion
set "REST=!%CHECK%!"
if not defined REST exit /b 1
set "NUM="
set /a "NUM=REST" >nul 2>&1
if "!NUM!"=="!REST!" exit /b 0
exit /b 1

:log
rem Prints MSG.
setlocal EnableDelayedExpansion
>>"!LOG!" echo !DATE! !TIME! updater !MSG!
endlocal
exit /b 0

:give_up
rem Logs MSG as the reason the update failed, and leaves it in failed-<version> for the worker.
setlocal EnableDelayedExpansion
>>"!LOG!" echo !DATE! !TIME! updater update to !VERSION! failed: !MSG!
>"!UPDATE_DIR!\failed-!VERSION!" echo !MSG!
endlocal
exit /b 0

:start_worker
rem A console window of its own, as when the user double-clicked it.
start "Hive Worker" /d "%INSTALL_DIR%" "%TARGET%"
set "MSG=started %TARGET%"
call :log
exit /b 0

:retry_move
rem Moves FROM to TO. Antivirus and the dying process hold files for a moment: retry for up to 60 s.
set /a TRIES=0
:retry_move_again
move /y "%FROM%" "%TO%" >nul 2>>"%LOG%"
if not errorlevel 1 exit /b 0
set /a TRIES+=1
if %TRIES% geq 60 exit /b 1
call :sleep 1
goto retry_move_again

:sleep
rem timeout.exe refuses redirected input; ping waits about a second per extra echo.
set /a PINGS=%~1+1
ping -n %PINGS% 127.0.0.1 >nul 2>&1
exit /b 0
